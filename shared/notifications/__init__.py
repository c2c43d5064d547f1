"""Shopper notifications: produced from committed order changes (the table's stream), stored and published."""
