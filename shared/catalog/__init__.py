"""The catalog: SKUs, stock buckets, public browsing and the merchant console."""

from shared.core.lazy import on_first_use

# merchant_views (the order models) answers the merchant order routes: the public catalog function never needs it
__getattr__ = on_first_use(__name__, "merchant_views")
