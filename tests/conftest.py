"""Suite-wide fixtures: fake credentials, no real network, an in-process moto AWS with the declared table."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "order24", "POWERTOOLS_METRICS_NAMESPACE": "order24",
    "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true",
})
os.environ.pop("AWS_ENDPOINT_URL", None)

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and not (host.startswith("127.") or host in ("localhost", "::1")):
        raise RuntimeError(f"tests must not reach the network: {address!r}")
    return _real_connect(self, address)


socket.socket.connect = _loopback_only  # type: ignore[method-assign]


def _state_machines() -> dict[str, str]:
    """The declared workflows, created (not executed: in-process tests call the steps directly)."""
    import json

    from infra.declaration import DECLARATION, function_arn_placeholder, queue_url_placeholders
    from infra.local.plan import state_machine_definitions
    from shared.core.aws import stepfunctions

    role = "arn:aws:iam::123456789012:role/order24-states"
    subs = {"TableName": os.environ.get("TABLE_NAME", "order24-test")}
    subs |= {function_arn_placeholder(f.name): f"arn:aws:lambda:us-east-1:123456789012:function:{f.name}"
             for f in DECLARATION.functions}
    for queue in DECLARATION.queues:  # the requeue states send to the queue and its DLQ
        subs |= dict(zip(queue_url_placeholders(queue.name),
                         (f"https://sqs.us-east-1.amazonaws.com/123456789012/order24-{queue.name}",
                          f"https://sqs.us-east-1.amazonaws.com/123456789012/order24-{queue.name}-dlq"), strict=True))
    arns = {}
    for name, definition in state_machine_definitions(DECLARATION, subs).items():
        workflow = DECLARATION.workflow(name)
        arns[workflow.env_var] = stepfunctions().create_state_machine(
            name=f"order24-{name}", definition=json.dumps(definition), roleArn=role, type=workflow.kind,
        )["stateMachineArn"]
    return arns


@pytest.fixture
def aws() -> Iterator[dict[str, str]]:
    """A fresh in-process moto AWS with the declared table and queues; handlers' env vars point at it."""
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
    from moto import mock_aws

    from infra.declaration import DECLARATION, create_table_request
    from infra.local import moto_patches
    from shared.catalog import store as catalog_store
    from shared.core.aws import dynamodb, reset_clients, secretsmanager, sns, sqs

    moto_patches.apply_dynamodb()
    reset_clients()
    catalog_store._cache.clear()
    # Powertools keeps one Secrets Manager client per process: one made while an in-process local runtime had set
    # AWS_ENDPOINT_URL would keep asking that server (not this test's moto) for the cursor key
    DEFAULT_PROVIDERS.clear()
    with mock_aws():
        names = {"TABLE_NAME": "order24-test"}
        os.environ["TABLE_NAME"] = names["TABLE_NAME"]
        dynamodb().create_table(**create_table_request(DECLARATION.table, names["TABLE_NAME"]))
        for queue in DECLARATION.queues:
            names[queue.env_var] = sqs().create_queue(QueueName=f"order24-{queue.name}")["QueueUrl"]
        for topic in DECLARATION.topics:
            names[topic.env_var] = sns().create_topic(Name=f"order24-{topic.name}")["TopicArn"]
        names.update(_state_machines())
        for secret in DECLARATION.secrets:
            if secret.generated:  # our own keys (the cursor key): created with a value, as CDK generates one
                names[secret.env_var] = secretsmanager().create_secret(
                    Name=f"order24/{secret.name}", SecretString='{"key": "test-key-0123456789abcdef0123456789abcdef"}',
                )["ARN"]
        previous = {key: os.environ.get(key) for key in names}
        os.environ.update(names)
        try:
            yield names
            from tests.support import assert_orders_round_trip

            assert_orders_round_trip()  # every order shape a test produced: item -> Order -> item
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            reset_clients()
            catalog_store._cache.clear()
            DEFAULT_PROVIDERS.clear()
