"""Fulfilment decisions with no I/O: the proportional refund of an undelivered part, tracking numbers.

Rounding of proportional refunds: refund = floor(line_total_fen * remaining_units / quantity), in integer
arithmetic. Floor means the shopper never gets more than the exact proportional amount, so the delivered
value plus every refund of a line never exceeds the line total, and summed over the lines never exceeds
the order total (proved with hypothesis in tests/unit/fulfilment/test_refund_math.py). When every unit is
undelivered the refund is the whole line total exactly (no fen is lost to rounding).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any


def undelivered_refund_fen(line_total_fen: int, quantity: int, remaining_units: int) -> int:
    if quantity <= 0 or not 0 <= remaining_units <= quantity or line_total_fen < 0:
        raise ValueError("remaining_units must be within 0..quantity and amounts non-negative")
    return line_total_fen * remaining_units // quantity


def capped_refund_fen(wanted_fen: int, payment: Mapping[str, Any] | None, total_fen: int) -> int:
    """Never ask for more than is still refundable on the payment (other refunds may have happened)."""
    paid = int((payment or {}).get("amount_fen", total_fen))
    # refunded or pending: every refund record that has not failed
    records = ((payment or {}).get("refunds") or {}).values()
    already = sum(int(r["amount_fen"]) for r in records if r.get("state") != "failed")
    return max(0, min(wanted_fen, paid - already))


def tracking_number(prefix: str, order_id: str) -> str:
    """Deterministic per order, so a replayed ship step creates the same shipment (13 digits + prefix)."""
    digits = str(int(hashlib.sha256(order_id.encode()).hexdigest(), 16))[:13]
    return f"{prefix}{digits}"
