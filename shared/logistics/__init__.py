"""Logistics: parcel tracking states and the partner adapters (Kuaidi100, KDNiao)."""
