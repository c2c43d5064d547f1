"""Every status change a workflow writes itself (the direct DynamoDB integration, no Lambda) is one the
transition table allows, and appends the event the Python constructor builds (infra/workflows.py)."""

from __future__ import annotations

from typing import Any

import pytest

from infra import workflows
from shared.orders import events, logic
from shared.orders.models import OrderStatus

WORKFLOWS = {"checkout": (workflows.checkout, workflows.CHECKOUT_STATUSES),
             "fulfil": (workflows.fulfil, workflows.FULFIL_STATUSES)}


def _status_writes(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: state["Parameters"] for name, state in definition["States"].items()
            if state.get("Resource") == "arn:aws:states:::dynamodb:updateItem"
            and "#status = :to" in state["Parameters"]["UpdateExpression"]}


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_the_asl_moves_an_order_only_where_the_transition_table_allows(name: str) -> None:
    build, statuses = WORKFLOWS[name]
    for state, params in _status_writes(build()).items():
        values = params["ExpressionAttributeValues"]
        to = OrderStatus(values[":to"]["S"])
        allowed = {OrderStatus(value["S"]) for key, value in values.items() if key.startswith(":from")}
        assert allowed == set(statuses) & logic.allowed_from(to), f"{name}.{state}"
        assert all(logic.can_move(status, to) for status in allowed)


def test_mark_failed_allows_exactly_the_tables_from_statuses_and_appends_the_constructors_event() -> None:
    params = workflows.checkout()["States"]["MarkFailed"]["Parameters"]
    values = params["ExpressionAttributeValues"]
    assert params["ConditionExpression"] == "#status = :from AND #version = :version"
    assert {values[":from"]["S"]} == {s.value for s in logic.allowed_from(OrderStatus.FAILED)
                                      if s in workflows.CHECKOUT_STATUSES} == {"PLACED"}
    (appended,) = values[":event"]["L"]
    built = events.status_changed(from_status=OrderStatus.PLACED, to_status=OrderStatus.FAILED,
                                  actor="system:checkout", reason="r", at="t").to_item()
    assert set(appended["M"]) == set(built)  # the same keys as the constructor's stored map
    assert {k: v["S"] for k, v in appended["M"].items() if "S" in v} == {
        k: v for k, v in built.items() if k not in ("at", "reason")}
    assert appended["M"]["at"] == {"S.$": "$$.State.EnteredTime"}
    assert appended["M"]["reason"] == values[":reason"]


def test_a_workflow_state_for_a_move_the_table_forbids_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="need exactly one legal from-status"):
        workflows.mark_status(OrderStatus.COMPLETED, workflow_statuses=workflows.CHECKOUT_STATUSES,
                              actor="system:checkout", next_state="Failed")
