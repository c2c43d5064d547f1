"""The sandbox payout provider: pays the platform's compensations at once (local runtime and tests only).

Idempotent on `out_transfer_no`, as WeChat Pay's 商家转账 (`out_bill_no`) and Alipay's
`alipay.fund.trans.uni.transfer` (`out_biz_no`) are: a repeat answers the first transfer and moves no money.
"""

from __future__ import annotations

import hashlib
import threading
from typing import ClassVar


class SandboxPayouts:
    """`calls` counts every request and `paid` the money moved, per out_transfer_no (tests read both)."""

    calls: ClassVar[list[str]] = []
    paid: ClassVar[dict[str, int]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls.calls.clear()
            cls.paid.clear()

    def transfer(self, *, out_transfer_no: str, amount_fen: int, currency: str, payee: str) -> str:
        with self._lock:
            self.calls.append(out_transfer_no)
            self.paid.setdefault(out_transfer_no, amount_fen)
        return "tr_" + hashlib.sha256(f"payout|{out_transfer_no}".encode()).hexdigest()[:24]
