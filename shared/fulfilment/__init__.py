"""Fulfilment: digital delivery via provider adapters, warehouse allocation, shipments, tracking reads."""
