"""Logistics tracking: our fulfilment states and the partner-neutral update the adapters produce.

Ordering rule (`advances`). Partners push snapshots; retries and slow queues deliver them out of order,
so a state only moves forward. Forward line (ranks):

    NO_INFO 0 < AWAITING_PICKUP 1 < ACCEPTED 2 < IN_TRANSIT = CUSTOMS = REDIRECTED 3
            < OUT_FOR_DELIVERY 4 < SIGNED 5 < REFUSED 6 < RETURNING 7 < RETURN_SIGNED 8 (terminal)

* The return branch ranks above SIGNED: Chinese carriers report 签收 when a locker or station signs, and
  the recipient can still refuse it there, so 拒签/退回/退签 after 签收 is real and the merchant must see it.
* PROBLEM and CUSTOMS_PROBLEM are *flags*, not places on the line: a flag always applies while the
  parcel has not been signed (even over OUT_FOR_DELIVERY), and never after SIGNED (late 疑难/超时 timers).
  A flag is cleared only by evidence of movement, i.e. a state of rank >= IN_TRANSIT; a late 揽收 does not.
* Same rank, different state (IN_TRANSIT <-> CUSTOMS <-> REDIRECTED, PROBLEM <-> CUSTOMS_PROBLEM) is a
  sideways move and is taken: neither is further along, and the newer push describes the parcel better.
* The same state again never advances (duplicates cost no write).

Callers should still drop snapshots whose newest trace is older than the stored one (`latest_at`);
`advances` is the state-level safety net.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TrackingState(StrEnum):
    NO_INFO = "NO_INFO"  # 暂无轨迹
    AWAITING_PICKUP = "AWAITING_PICKUP"  # 待揽件
    ACCEPTED = "ACCEPTED"  # 揽收
    IN_TRANSIT = "IN_TRANSIT"  # 在途
    CUSTOMS = "CUSTOMS"  # 待清关 / 清关中 / 已清关
    REDIRECTED = "REDIRECTED"  # 转投 / 转寄
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"  # 派件 (incl. placed in a locker or station)
    SIGNED = "SIGNED"  # 签收
    PROBLEM = "PROBLEM"  # 疑难 / 问题件
    CUSTOMS_PROBLEM = "CUSTOMS_PROBLEM"  # 清关异常
    REFUSED = "REFUSED"  # 拒签 / 拒收
    RETURNING = "RETURNING"  # 退回
    RETURN_SIGNED = "RETURN_SIGNED"  # 退签: back with the sender


Partner = Literal["kuaidi100", "kdniao"]

_RANK: dict[TrackingState, int] = {
    TrackingState.NO_INFO: 0,
    TrackingState.AWAITING_PICKUP: 1,
    TrackingState.ACCEPTED: 2,
    TrackingState.IN_TRANSIT: 3,
    TrackingState.CUSTOMS: 3,
    TrackingState.REDIRECTED: 3,
    TrackingState.PROBLEM: 3,  # nominal: a flag is "somewhere in flight"
    TrackingState.CUSTOMS_PROBLEM: 3,
    TrackingState.OUT_FOR_DELIVERY: 4,
    TrackingState.SIGNED: 5,
    TrackingState.REFUSED: 6,
    TrackingState.RETURNING: 7,
    TrackingState.RETURN_SIGNED: 8,
}

FLAGS: frozenset[TrackingState] = frozenset({TrackingState.PROBLEM, TrackingState.CUSTOMS_PROBLEM})
TROUBLE: frozenset[TrackingState] = frozenset(
    {
        TrackingState.PROBLEM,
        TrackingState.CUSTOMS_PROBLEM,
        TrackingState.REFUSED,
        TrackingState.RETURNING,
        TrackingState.RETURN_SIGNED,
    }
)
TERMINAL: frozenset[TrackingState] = frozenset({TrackingState.RETURN_SIGNED})


def rank(state: TrackingState) -> int:
    return _RANK[state]


def is_trouble(state: TrackingState) -> bool:
    """States an operator or the merchant should look at."""
    return state in TROUBLE


def is_delivered(state: TrackingState) -> bool:
    return state is TrackingState.SIGNED


def advances(current: TrackingState | None, incoming: TrackingState) -> bool:
    """True when `incoming` should replace `current` (see the module docstring for the rule)."""
    if current is None:
        return True
    if incoming is current or current in TERMINAL:
        return False
    if incoming in FLAGS:
        return _RANK[current] < _RANK[TrackingState.SIGNED]
    return _RANK[incoming] >= _RANK[current]


class Trace(BaseModel):
    """One line of the partner's history. `at` is aware UTC; partners send Asia/Shanghai local time."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    state: TrackingState | None = None  # the per-line state when the partner gives one we know
    raw_status: str = ""  # the partner's per-line status text or code, kept for inspection
    context: str = ""  # the partner's description (站点/动作)
    area: str | None = None

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("trace time must be timezone-aware")
        return value


class TrackingUpdate(BaseModel):
    """A verified, parsed partner push for one shipment."""

    model_config = ConfigDict(frozen=True)

    partner: Partner
    carrier: str  # Kuaidi100-style company code, e.g. "yuantong", for both partners
    tracking_number: str = Field(min_length=1)
    state: TrackingState
    raw_state: str  # the code that decided `state`: Kuaidi100 lastResult.state; KDNiao StateEx or State
    traces: list[Trace] = Field(default_factory=list)  # newest first
    subscription_status: str | None = None  # Kuaidi100 polling|shutdown|abort|updateall; None for KDNiao
    message: str = ""  # partner free text (e.g. Kuaidi100 "3天查询无记录" on abort, KDNiao Reason)
    event_key: str  # stable digest of the content; equal for a retried push, for duplicate detection

    @property
    def latest_at(self) -> datetime | None:
        return self.traces[0].at if self.traces else None
