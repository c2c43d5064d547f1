"""Entitlements order24 delivers itself: memberships and ad credits, as an append-only ledger."""
