"""Fulfilment: digital delivery via provider adapters, warehouse allocation, shipments, tracking reads."""

from shared.core.lazy import on_first_use

# tracking_views (the logistics models) is the tracking route's answer type: most api_orders starts never need it
__getattr__ = on_first_use(__name__, "tracking_views")
