"""Step Functions definitions (ASL, JSONPath), shared by CDK and the local runtime.

Placeholders such as ${TableName} and ${FnReserveArn} are filled by CDK's DefinitionSubstitutions
in AWS and by the local runtime from moto's ARNs. Plain data steps use the direct DynamoDB
integration, so they cost a state transition and not a Lambda invocation.
"""

from __future__ import annotations

from typing import Any

# Errors worth retrying inside an Express execution (at-least-once; every step is idempotent).
TRANSIENT_LAMBDA_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "TransientError",
]


def lambda_task(function_placeholder: str, *, next_state: str | None, catch_to: str) -> dict[str, Any]:
    """Invoke one of our functions with the state as payload; its return value becomes the state."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "${" + function_placeholder + "}", "Payload.$": "$"},
        "OutputPath": "$.Payload",
        "Retry": [
            {
                "ErrorEquals": TRANSIENT_LAMBDA_ERRORS,
                "IntervalSeconds": 1,
                "MaxAttempts": 3,
                "BackoffRate": 2.0,
                "JitterStrategy": "FULL",
            }
        ],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": catch_to}],
    }
    if next_state:
        state["Next"] = next_state
    else:
        state["End"] = True
    return state


def mark_status(from_status: str, to_status: str, *, actor: str, next_state: str) -> dict[str, Any]:
    """One conditional write (status and version) that moves the order and appends the event.

    Input needs `order_id`, `version` and `error.Error`; a lost race (the order moved on) is not an error.
    """
    event = {
        "M": {
            "at": {"S.$": "$$.State.EnteredTime"},
            "type": {"S": "status_changed"},
            "from_status": {"S": from_status},
            "to_status": {"S": to_status},
            "actor": {"S": actor},
            "reason": {"S.$": "$.error.Error"},
        }
    }
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
                ":to": {"S": to_status},
                ":from": {"S": from_status},
                ":one": {"N": "1"},
                ":now": {"S.$": "$$.State.EnteredTime"},
                ":reason": {"S.$": "$.error.Error"},
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


def checkout() -> dict[str, Any]:
    """PLACED -> (risk) -> AWAITING_PAYMENT. Reserve is atomic: stock and status move in one transaction.

    Risk returns {order_id, version, status, risk_decision}; `version` is the order's version after Risk
    persisted its assessment, so MarkFailed (after a Reserve error) conditions on the right one. An enforced
    REJECT has already moved the order to REJECTED inside the Risk step (one write), so RiskGate just ends;
    REVIEW continues (the decision rides on the order to the fulfil workflow's review).
    """
    return {
        "Comment": "order24 checkout: risk score, reserve stock, then wait for payment (outside the flow)",
        "StartAt": "Risk",
        "States": {
            "Risk": lambda_task("FnRiskArn", next_state="RiskGate", catch_to="MarkFailed"),
            "RiskGate": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.status", "StringEquals": "PLACED", "Next": "Reserve"}],
                "Default": "Stopped",
            },
            "Stopped": {"Type": "Succeed", "Comment": "rejected by risk, gone, or a replay past checkout"},
            "Reserve": lambda_task("FnReserveArn", next_state=None, catch_to="MarkFailed"),
            "MarkFailed": mark_status("PLACED", "FAILED", actor="system:checkout", next_state="Failed"),
            "Failed": {"Type": "Succeed", "Comment": "the order carries the reason; the execution did its job"},
        },
    }


def fulfil() -> dict[str, Any]:
    """PAID -> automatic review -> deliver now (digital) or ship (physical).

    A manual-review outcome ends the execution with the order IN_REVIEW; the reviewer's approval starts a
    new execution, whose Review step sees FULFILLING and routes straight on. An unrecoverable error
    leaves the order where it is: the sweeper re-drives it and, when re-drives run out, fails and refunds it.
    """
    deliver = lambda_task("FnDeliverArn", next_state=None, catch_to="GiveUpDelivery")
    deliver["Retry"].insert(0, {
        "ErrorEquals": ["DeliveryRetryable"], "IntervalSeconds": 2, "MaxAttempts": 4, "BackoffRate": 2.0,
        "MaxDelaySeconds": 30, "JitterStrategy": "FULL",
    })
    give_up = lambda_task("FnDeliverArn", next_state=None, catch_to="Parked")
    give_up["Parameters"] = {
        "FunctionName": "${FnDeliverArn}",
        "Payload": {"order_id.$": "$.order_id", "action": "give_up", "error.$": "$.error"},
    }
    return {
        "Comment": "order24 fulfil: automatic review, then digital delivery or physical shipment",
        "StartAt": "Review",
        "States": {
            "Review": lambda_task("FnReviewAutoArn", next_state="Route", catch_to="Parked"),
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
            "Ship": lambda_task("FnShipArn", next_state=None, catch_to="Parked"),
            "Parked": {"Type": "Succeed", "Comment": "the order keeps its timer; the sweeper re-drives it"},
            "Done": {"Type": "Succeed"},
        },
    }
