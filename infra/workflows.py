"""Step Functions definitions (ASL, JSONPath), shared by CDK and the local runtime.

Placeholders such as ${TableName} and ${FnReserveArn} are filled by CDK's DefinitionSubstitutions
in AWS and by the local runtime from moto's ARNs. Plain data steps use the direct DynamoDB
integration, so they cost a state transition and not a Lambda invocation.
"""

from __future__ import annotations

import json
from typing import Any

from shared.orders import events, logic
from shared.orders.models import OrderStatus

# A throttled, unavailable or timed-out step is not a failed order. It is retried here with capped
# exponential backoff and full jitter, then handed back to its queue (`requeue`), never to FAILED.
THROTTLE_ERRORS = [
    "Lambda.TooManyRequestsException",  # concurrency or rate limit: Lambda is still adding environments
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "TransientError",  # our own: stock contention, a partner's transient answer
]
TIMEOUT_ERRORS = ["States.Timeout", "Sandbox.Timedout"]  # the task's TimeoutSeconds, or Lambda's own timeout
TRANSIENT_LAMBDA_ERRORS = THROTTLE_ERRORS + TIMEOUT_ERRORS  # what ends in a requeue instead of FAILED
# A provider (or our own callback URL) that is not configured here: shared.core.errors.ProviderNotConfigured
# and the secrets modules' SecretConfigError (its subclass, by its own Lambda error name). Retrying within
# seconds cannot fix a missing secret, so there is no retrier: the step goes straight to `requeue`, which
# records the error name on the order (`requeue_reason`), delays, and after MAX_REQUEUES parks the order in
# the queue's alarmed DLQ. Never GiveUp/MarkFailed: a step that was never able to try has not failed, and it
# never reports success either.
NOT_CONFIGURED_ERRORS = ["ProviderNotConfigured", "SecretConfigError"]

# Deployed timings. Worst case per Lambda step: the throttle retrier waits at most
#   1 + 2 + 4 + 8 + 16 + 20 + 20 + 20 = 91 s (8 retries; full jitter draws each wait from 0 to that: ~45 s on
# average), the timeout retrier adds one retry: 2 attempts x TASK_TIMEOUT_S + 2 s = 26 s, so a step gives up
# after at most 117 s (a throttled call answers at once). The requeue bookkeeping (a DynamoDB update and an
# SQS send, 1 + 2 + 4 s of retries each) adds 14 s. Longest path of checkout: Risk + Reserve + requeue =
# 2 x 117 + 14 = 248 s, under Express's 300 s; fulfil: see FULFIL_THROTTLE_ATTEMPTS.
# tests/infra/test_workflow_timings.py computes these figures from the deployed template.
THROTTLE_INTERVAL_S = 1
THROTTLE_BACKOFF = 2.0
THROTTLE_MAX_DELAY_S = 20
THROTTLE_ATTEMPTS = 8
TASK_TIMEOUT_S = 12  # our functions time out at 10 s; Lambda's own timeout error is retried the same way
# Fulfil has up to three Lambda steps in a row (Review, Deliver with its provider retries of 30 s,
# GiveUpDelivery): 6 throttle retries wait at most 1 + 2 + 4 + 8 + 16 + 20 = 51 s per step, so the longest
# path is Review 77 + Deliver 107 + GiveUpDelivery 77 + requeue 14 = 275 s.
FULFIL_THROTTLE_ATTEMPTS = 6
# After a step gives up, the order goes back to its queue with this delay, at most MAX_REQUEUES times
# (counted on the order), then to the queue's DLQ, whose alarm pages ops. Patience before the DLQ:
# about 10 x (4 min in the workflow + 2 min delay) = an hour of throttling.
REQUEUE_DELAY_S = 120  # SQS allows up to 900
MAX_REQUEUES = 10


def _retry(errors: list[str], *, interval: int, attempts: int, max_delay: int, backoff: float = 2.0,
           ) -> dict[str, Any]:
    return {"ErrorEquals": errors, "IntervalSeconds": interval, "MaxAttempts": attempts, "BackoffRate": backoff,
            "MaxDelaySeconds": max_delay, "JitterStrategy": "FULL"}


def lambda_task(function_placeholder: str, *, next_state: str | None, catch_to: str,
                requeue_to: str | None = None, throttle_attempts: int = THROTTLE_ATTEMPTS) -> dict[str, Any]:
    """Invoke one of our functions with the state as payload; its return value becomes the state.

    Throttles and timeouts are retried, then go to `requeue_to` (back to the queue), as does a provider that
    is not configured (NOT_CONFIGURED_ERRORS, without retries); anything else goes to `catch_to` with the
    error in `$.error`.
    """
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "${" + function_placeholder + "}", "Payload.$": "$"},
        "OutputPath": "$.Payload",
        "TimeoutSeconds": TASK_TIMEOUT_S,
        "Retry": [
            _retry(TIMEOUT_ERRORS, interval=2, attempts=1, max_delay=2),
            _retry(THROTTLE_ERRORS, interval=THROTTLE_INTERVAL_S, attempts=throttle_attempts,
                   max_delay=THROTTLE_MAX_DELAY_S, backoff=THROTTLE_BACKOFF),
        ],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": catch_to}],
    }
    if requeue_to:
        state["Catch"].insert(0, {"ErrorEquals": TRANSIENT_LAMBDA_ERRORS + NOT_CONFIGURED_ERRORS,
                                  "ResultPath": "$.error", "Next": requeue_to})
    if next_state:
        state["Next"] = next_state
    else:
        state["End"] = True
    return state


def requeue(queue: str, *, statuses: tuple[str, ...], first_state: str, max_requeues: int = MAX_REQUEUES,
            ) -> dict[str, dict[str, Any]]:
    """States that hand a throttled order back to `queue` (placeholders ${<Queue>QueueUrl}, ${<Queue>DlqUrl}).

    One conditional update counts the requeue on the order (`requeues`, `requeued_at`, `requeue_reason`: the
    last throttle's error name, for ops; the status is unchanged
    and must still be one of `statuses`, so an order that moved on is left alone), then the order goes back to
    the queue with a delay, or to the DLQ once it has been requeued `max_requeues` times. Every step downstream
    is idempotent, so a requeued order simply runs again. The sweeper reads `requeued_at` and leaves an order
    that is waiting in the queue alone (shared/orders/lifecycle.py).
    """
    prefix = queue.title()
    names = {f":s{i}": {"S": status} for i, status in enumerate(statuses)}
    body = {
        "order_id.$": "$$.Execution.Input.order_id",
        "requeues.$": "$.requeue.count",
        "reason.$": "$.error.Error",
    }
    return {
        first_state: {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:updateItem",
            "Parameters": {
                "TableName": "${TableName}",
                "Key": {"PK": {"S.$": "States.Format('ORDER#{}', $$.Execution.Input.order_id)"},
                        "SK": {"S": "ORDER"}},
                "UpdateExpression": ("SET requeues = if_not_exists(requeues, :zero) + :one, requeued_at = :now, "
                                     "requeue_reason = :reason"),
                "ConditionExpression": "#status IN (" + ", ".join(names) + ")",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":zero": {"N": "0"}, ":one": {"N": "1"},
                                              ":now": {"S.$": "$$.State.EnteredTime"},
                                              ":reason": {"S.$": "$.error.Error"}, **names},
                "ReturnValues": "UPDATED_NEW",
            },
            "ResultSelector": {"count.$": "States.StringToJson($.Attributes.requeues.N)"},
            "ResultPath": "$.requeue",
            "Retry": [_retry(["States.ALL"], interval=1, attempts=3, max_delay=4)],
            "Catch": [
                {"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"], "ResultPath": None,
                 "Next": f"{prefix}MovedOn"},
                # The table itself is unreachable: the order keeps its timer, and the sweeper re-drives it.
                {"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": f"{prefix}MovedOn"},
            ],
            "Next": f"{prefix}RequeueOrPark",
        },
        f"{prefix}RequeueOrPark": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.requeue.count", "NumericGreaterThan": max_requeues,
                         "Next": f"{prefix}ToDlq"}],
            "Default": f"{prefix}Requeue",
        },
        f"{prefix}Requeue": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage",
            "Parameters": {"QueueUrl": "${" + prefix + "QueueUrl}", "DelaySeconds": REQUEUE_DELAY_S,
                           "MessageBody": body},
            "ResultPath": None,
            "Retry": [_retry(["States.ALL"], interval=1, attempts=3, max_delay=4)],
            # SQS refused three times: the order keeps its timer, and the sweeper re-drives it.
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": f"{prefix}MovedOn"}],
            "Next": f"{prefix}Requeued",
        },
        f"{prefix}ToDlq": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage",
            "Parameters": {"QueueUrl": "${" + prefix + "DlqUrl}",
                           "MessageBody": {**body, "gave_up": "requeues_exhausted"}},
            "ResultPath": None,
            "Retry": [_retry(["States.ALL"], interval=1, attempts=3, max_delay=4)],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": f"{prefix}MovedOn"}],
            "Next": f"{prefix}Requeued",
        },
        f"{prefix}Requeued": {"Type": "Succeed", "Comment": "back in the queue (or its DLQ, alarmed)"},
        f"{prefix}MovedOn": {"Type": "Succeed", "Comment": "the order moved on meanwhile, or the sweeper has it"},
    }


# The statuses each workflow acts on. The checkout workflow runs on PLACED orders (Risk keeps them PLACED;
# Reserve moves them on in its own transaction), so its requeue and MarkFailed states condition on these.
CHECKOUT_STATUSES = (OrderStatus.PLACED,)
FULFIL_STATUSES = (OrderStatus.PAID, OrderStatus.FULFILLING)

# ASL stand-ins for the values only the execution knows; `_event_attr` swaps them for JSONPath references.
_AT = "$$.State.EnteredTime"
_REASON = "<reason>"


def mark_status(to: OrderStatus, *, workflow_statuses: tuple[OrderStatus, ...], actor: str, next_state: str,
                reason_prefix: str = "") -> dict[str, Any]:
    """One conditional write (status and version) that moves the order and appends its event, generated
    from the Python transition table and event constructor, so the workflow cannot bypass either.

    The allowed from-statuses are those of `workflow_statuses` the table lets become `to`
    (`logic.allowed_from`); the appended event is `events.status_changed` with the execution's time and
    reason filled in by the ASL. Input needs `order_id`, `version` and `error.Error`; a lost race (the order
    moved on) is not an error. The reason is `<reason_prefix><Error>`, e.g. `checkout_error:KeyError`: only
    errors that are not a throttle or a timeout get here (those are requeued), so the reason names a real
    defect.
    """
    allowed = sorted(set(workflow_statuses) & logic.allowed_from(to))
    if len(allowed) != 1:  # the event names its from-status; the ASL cannot read it from the item
        raise ValueError(f"{to.value} from {[s.value for s in workflow_statuses]}: need exactly one legal "
                         f"from-status, the table allows {[s.value for s in allowed]}")
    (from_status,) = allowed
    reason = (
        {"S.$": f"States.Format('{reason_prefix}{{}}', $.error.Error)"} if reason_prefix else {"S.$": "$.error.Error"}
    )
    event = _event_attr(
        events.status_changed(from_status=from_status, to_status=to, actor=actor, reason=_REASON, at=_AT),
        reason=reason,
    )
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:updateItem",
        "Parameters": {
            "TableName": "${TableName}",
            "Key": {"PK": {"S.$": "States.Format('ORDER#{}', $.order_id)"}, "SK": {"S": "ORDER"}},
            "UpdateExpression": (
                "SET #status = :to, #version = #version + :one, updated_at = :now, "
                "status_reason = :reason, events = list_append(events, :event) REMOVE GSI3PK, GSI3SK"
            ),
            "ConditionExpression": "#status = :from AND #version = :version",
            "ExpressionAttributeNames": {"#status": "status", "#version": "version"},
            "ExpressionAttributeValues": {
                ":to": {"S": to.value},
                ":from": {"S": from_status.value},
                ":one": {"N": "1"},
                ":now": {"S.$": _AT},
                ":reason": reason,
                ":version": {"N.$": "States.Format('{}', $.version)"},
                ":event": {"L": [event]},
            },
        },
        "ResultPath": None,
        "Retry": [
            {
                "ErrorEquals": ["DynamoDB.ProvisionedThroughputExceededException", "DynamoDB.InternalServerError"],
                "IntervalSeconds": 1,
                "MaxAttempts": 3,
                "BackoffRate": 2.0,
            }
        ],
        "Catch": [
            {"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"], "ResultPath": None, "Next": next_state}
        ],
        "Next": next_state,
    }


def _event_attr(event: events.OrderEvent, *, reason: dict[str, str]) -> dict[str, Any]:
    """The event's stored map (its constructor's `to_item`) as a DynamoDB attribute value, with the
    execution's time and the step's reason as JSONPath references."""
    stored = event.to_item()
    dynamic = {"at": {"S.$": _AT}, "reason": reason}
    return {"M": {key: dynamic[key] if value in (_AT, _REASON) else {"S": value} for key, value in stored.items()}}


def checkout() -> dict[str, Any]:
    """PLACED -> (risk) -> AWAITING_PAYMENT. Reserve is atomic: stock and status move in one transaction.

    Risk returns {order_id, version, status, risk_decision}; `version` is the order's version after Risk
    persisted its assessment, so MarkFailed (after a Reserve error) conditions on the right one. An enforced
    REJECT has already moved the order to REJECTED inside the Risk step (one write), so RiskGate just ends;
    REVIEW continues (the decision rides on the order to the fulfil workflow's review).
    A throttled or timed-out step, after its retries, goes back to the intake queue (`requeue`), not FAILED.
    """
    return {
        "Comment": "order24 checkout: risk score, reserve stock, then wait for payment (outside the flow)",
        "StartAt": "Risk",
        "States": {
            "Risk": lambda_task("FnRiskArn", next_state="RiskGate", catch_to="MarkFailed", requeue_to="Throttled"),
            "RiskGate": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.status", "StringEquals": "PLACED", "Next": "Reserve"}],
                "Default": "Stopped",
            },
            "Stopped": {"Type": "Succeed", "Comment": "rejected by risk, gone, or a replay past checkout"},
            "Reserve": lambda_task("FnReserveArn", next_state=None, catch_to="MarkFailed", requeue_to="Throttled"),
            "MarkFailed": mark_status(OrderStatus.FAILED, workflow_statuses=CHECKOUT_STATUSES,
                                      actor="system:checkout", next_state="Failed", reason_prefix="checkout_error:"),
            "Failed": {"Type": "Succeed", "Comment": "the order carries the reason; the execution did its job"},
            **requeue("intake", statuses=tuple(s.value for s in CHECKOUT_STATUSES), first_state="Throttled"),
        },
    }


def fulfil() -> dict[str, Any]:
    """PAID -> automatic review -> deliver now (digital) or ship (physical).

    A manual-review outcome ends the execution with the order IN_REVIEW; the reviewer's approval starts a
    new execution, whose Review step sees FULFILLING and routes straight on. A throttled or timed-out step,
    after its retries, goes back to the paid queue (`requeue`); any other unrecoverable error leaves the
    order where it is: the sweeper re-drives it and, when re-drives run out, fails and refunds it.
    """
    attempts = FULFIL_THROTTLE_ATTEMPTS
    deliver = lambda_task("FnDeliverArn", next_state=None, catch_to="GiveUpDelivery", requeue_to="Throttled",
                          throttle_attempts=attempts)
    deliver["Retry"].insert(0, {
        "ErrorEquals": ["DeliveryRetryable"], "IntervalSeconds": 2, "MaxAttempts": 4, "BackoffRate": 2.0,
        "MaxDelaySeconds": 30, "JitterStrategy": "FULL",
    })
    give_up = lambda_task("FnDeliverArn", next_state=None, catch_to="Parked", requeue_to="Throttled",
                          throttle_attempts=attempts)
    give_up["Parameters"] = {
        "FunctionName": "${FnDeliverArn}",
        "Payload": {"order_id.$": "$.order_id", "action": "give_up", "error.$": "$.error"},
    }
    return {
        "Comment": "order24 fulfil: automatic review, then digital delivery or physical shipment",
        "StartAt": "Review",
        "States": {
            "Review": lambda_task("FnReviewAutoArn", next_state="Route", catch_to="Parked", requeue_to="Throttled",
                                  throttle_attempts=attempts),
            "Route": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.next", "StringEquals": "deliver", "Next": "Deliver"},
                    {"Variable": "$.next", "StringEquals": "ship", "Next": "Ship"},
                ],
                "Default": "Done",
            },
            "Deliver": deliver,
            "GiveUpDelivery": give_up,
            "Ship": lambda_task("FnShipArn", next_state=None, catch_to="Parked", requeue_to="Throttled",
                                throttle_attempts=attempts),
            "Parked": {"Type": "Succeed", "Comment": "the order keeps its timer; the sweeper re-drives it"},
            "Done": {"Type": "Succeed"},
            **requeue("paid", statuses=tuple(s.value for s in FULFIL_STATUSES), first_state="Throttled"),
        },
    }


def local_timings(definition: dict[str, Any], *, max_delay_s: int = 1, requeue_delay_s: int = 1,
                  local_task_timeout_s: int = 60) -> dict[str, Any]:
    """The same ASL with the throttle retries and requeue delays cut to `max_delay_s`/`requeue_delay_s`, and
    task timeouts raised to `local_task_timeout_s` (the local runtime queues a function's calls for its one
    environment, which Lambda would run side by side).

    The local runtime uses it so that tests which ride out injected throttles wait seconds, not minutes; the
    structure (states, errors, attempt counts, catches) is untouched, and AWS deploys the definition as is.
    """
    fast: dict[str, Any] = json.loads(json.dumps(definition))
    for state in fast["States"].values():
        if "TimeoutSeconds" in state:  # locally one environment per function: calls queue for it
            state["TimeoutSeconds"] = max(state["TimeoutSeconds"], local_task_timeout_s)
        for retrier in state.get("Retry", []):
            if set(retrier["ErrorEquals"]) & set(TRANSIENT_LAMBDA_ERRORS):
                retrier["IntervalSeconds"] = min(retrier["IntervalSeconds"], max_delay_s)
                retrier["MaxDelaySeconds"] = min(retrier.get("MaxDelaySeconds", max_delay_s), max_delay_s)
        params = state.get("Parameters") or {}
        if state.get("Resource") == "arn:aws:states:::sqs:sendMessage" and "DelaySeconds" in params:
            params["DelaySeconds"] = min(params["DelaySeconds"], requeue_delay_s)
    return fast
