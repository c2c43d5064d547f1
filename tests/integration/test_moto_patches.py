"""The moto patches (infra/local/moto_patches.py) that no other test proves: each test here fails when its
patch is skipped (`ORDER24_SKIP_MOTO_PATCHES=<name>`), on the pinned moto."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.local import moto_patches
from shared.core import ddb

KEY = ddb.key("SKU#last-unit", "STOCK#000")


def take_one() -> dict[str, Any]:
    return {"TableName": ddb.table(), "Key": KEY, "UpdateExpression": "SET available = available - :one",
            "ConditionExpression": "available >= :one", "ExpressionAttributeValues": ddb.values(one=1)}


def test_two_takes_of_the_last_unit_at_once_let_only_one_through(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dynamodb_request_lock`: moto checks the condition, then writes. A second writer that runs between the
    two passes the same condition, so both take the last unit, where DynamoDB lets only one through."""
    import moto.dynamodb.models as models

    ddb.dynamodb().put_item(TableName=ddb.table(), Item=ddb.to_item({"PK": "SKU#last-unit", "SK": "STOCK#000",
                                                                      "available": 1}))
    passed, go = threading.Event(), threading.Event()
    original = getattr(models, "UpdateExpressionValidator")  # noqa: B009 (not in moto's __all__)

    def validator_then_pause(*args: Any, **kwargs: Any) -> Any:  # moto builds it once the condition passed
        if threading.current_thread().name == "first":
            passed.set()
            go.wait(timeout=5)
        return original(*args, **kwargs)

    monkeypatch.setattr(models, "UpdateExpressionValidator", validator_then_pause)
    outcomes: list[str] = []

    def take() -> None:
        try:
            ddb.dynamodb().update_item(**take_one())
            outcomes.append("took")
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])

    first = threading.Thread(target=take, name="first")
    first.start()
    assert passed.wait(timeout=5)
    second = threading.Thread(target=take, name="second")
    second.start()
    second.join(timeout=1.0)  # without the lock it has taken the unit too by now
    go.set()
    first.join(timeout=10)
    second.join(timeout=10)

    assert sorted(outcomes) == ["ConditionalCheckFailedException", "took"]
    item = ddb.dynamodb().get_item(TableName=ddb.table(), Key=KEY, ConsistentRead=True)["Item"]
    assert ddb.from_item(item)["available"] == 0


def test_the_local_aws_does_not_list_moto_s_package_on_every_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """`backend_lookup_cache`: moto's server finds a request's backend by listing its own package directory
    (about 1 to 3 ms, under the dispatcher's global lock), on every request."""
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    moto_patches.apply()
    dispatcher = DomainDispatcherApplication(create_backend_app)
    host = "dynamodb.us-east-1.amazonaws.com"
    assert dispatcher.get_backend_for_host(host) == "dynamodb"
    listings = 0
    original = backends.list_of_moto_modules

    def counted() -> Any:
        nonlocal listings
        listings += 1
        return original()

    monkeypatch.setattr(backends, "list_of_moto_modules", counted)

    assert [dispatcher.get_backend_for_host(host) for _ in range(50)] == ["dynamodb"] * 50
    assert listings == 0


def test_step_functions_tasks_share_one_client_per_service() -> None:
    """`step_functions_client_reuse`: moto's ASL interpreter builds a new boto3 client (service model,
    endpoint resolution, connection pool: about 6 ms) for every Lambda, DynamoDB and SQS task."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_dynamodb,
        state_task_service_sqs,
    )

    moto_patches.apply()
    for module, service in ((lambda_eval_utils, "lambda"), (state_task_service_dynamodb, "dynamodb"),
                            (state_task_service_sqs, "sqs")):
        first = module.boto_client_for("us-east-1", service)
        assert module.boto_client_for("us-east-1", service) is first
