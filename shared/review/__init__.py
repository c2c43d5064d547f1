"""Automatic review after payment: ad-copy law checks, banned goods, licensed industries, amount tiers."""
