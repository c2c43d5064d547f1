"""The workflow steps' inputs and outputs: what infra/workflows.py passes from state to state.

Each step's Lambda handler parses its input with `StepInput` and returns `<result>.payload()`, the JSON the
next state reads (`$.status` in RiskGate, `$.next` in Route, `$.version` in MarkFailed). Fields a step did
not set are left out, exactly as the dicts these replace did.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.orders.aggregate import OrderHead


class StepInput(BaseModel):
    """A step's input: the execution input or the previous step's output (other keys are the ASL's)."""

    model_config = ConfigDict(extra="ignore")

    order_id: str
    version: int | None = None


class _Result(BaseModel):
    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


class StepState(_Result):
    """Where the order is after the step. `status` is also MISSING/NOT_FOUND for an order that is gone."""

    order_id: str
    status: str
    version: int | None = None

    @classmethod
    def of(cls, order: OrderHead) -> StepState:
        return cls(order_id=order.order_id, status=order.status.value, version=order.version)


class RiskState(StepState):
    """The Risk step's answer: the state, and the decision that rides on to the fulfil workflow's review."""

    risk_decision: str | None = None


Next = Literal["deliver", "ship", "wait"]


class ReviewRoute(_Result):
    """The Review step's answer: the fulfil workflow's Route state branches on `next`."""

    order_id: str
    version: int
    kind: str | None
    next: Next
