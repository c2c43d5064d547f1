"""Typed AWS clients, built lazily on first use and cached per container (never at import time).

One accessor per service we call (`dynamodb()`, `sqs()`, ...), each returning the types-boto3 client type, so
mypy checks every call's arguments and reply. The stub types are imported for the type checker only: at run
time nothing here imports boto3 until the first call.

The one retry policy lives here too: botocore's `standard` mode (`config()`), for every client. It retries
throttling (ProvisionedThroughputExceeded, ThrottlingException, TransactionInProgress, ...), transient errors
(5xx, RequestTimeout, lost connections and read timeouts) up to MAX_ATTEMPTS in all, with full-jitter
exponential backoff capped at 20 s and a client-side retry quota (botocore/retries/standard.py). No call site
loops on top of it. The application-level retries left are the ones botocore cannot see: a conditional write
that lost an optimistic race (`shared.core.ddb.contended`) and BatchGetItem's UnprocessedKeys (a successful
reply; `shared.core.ddb.batch_get`). The ClientError helpers (`error_code`, ...) are at the end.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from botocore.config import Config
    from botocore.exceptions import ClientError as ClientError
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_secretsmanager import SecretsManagerClient
    from types_boto3_sns import SNSClient
    from types_boto3_sqs import SQSClient
    from types_boto3_stepfunctions import SFNClient

# botocore standard mode: 4 attempts in all (1 call + 3 retries), backoff with jitter capped at 20 s.
MAX_ATTEMPTS = 4

_Client = TypeVar("_Client")
_cache_clears: list[Callable[[], None]] = []


@cache
def config() -> Config:
    from botocore.config import Config  # deferred with boto3

    # max_pool_connections: the sweeper runs its timers on a thread pool (shared/orders/lifecycle.py).
    return Config(retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS}, connect_timeout=2, read_timeout=5,
                  max_pool_connections=64)


def endpoint_url() -> str | None:
    """AWS_ENDPOINT_URL when set (the local runtime, tests), else the service's own endpoint."""
    return os.environ.get("AWS_ENDPOINT_URL") or None


def _cached(build: Callable[[], _Client]) -> Callable[[], _Client]:
    accessor = cache(build)
    _cache_clears.append(accessor.cache_clear)
    return accessor


# Each accessor imports boto3 on first call: keeps cold-start import cheap for functions that never call AWS.
@_cached
def dynamodb() -> DynamoDBClient:
    import boto3

    return boto3.client("dynamodb", endpoint_url=endpoint_url(), config=config())


@_cached
def sqs() -> SQSClient:
    import boto3

    return boto3.client("sqs", endpoint_url=endpoint_url(), config=config())


@_cached
def stepfunctions() -> SFNClient:
    import boto3

    return boto3.client("stepfunctions", endpoint_url=endpoint_url(), config=config())


@_cached
def sns() -> SNSClient:
    import boto3

    return boto3.client("sns", endpoint_url=endpoint_url(), config=config())


@_cached
def secretsmanager() -> SecretsManagerClient:
    import boto3

    return boto3.client("secretsmanager", endpoint_url=endpoint_url(), config=config())


def reset_clients() -> None:
    """Tests call this when they swap the AWS endpoint."""
    for clear in _cache_clears:
        clear()


# ---------------------------------------------------------------- errors
#
# Catch AWS errors as `except aws.ClientError as error:` and branch on `aws.error_code(error)` (DynamoDB's
# condition checks: `shared.core.ddb.is_conditional_failure`). `aws.ClientError` is botocore's class, looked up
# when an exception is being matched, so importing this module still imports no botocore; do not write
# `from shared.core.aws import ClientError` at the top of a module (that import would load it).


def __getattr__(name: str) -> type[ClientError]:
    if name == "ClientError":
        from botocore.exceptions import ClientError

        return ClientError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def error_response(error: BaseException) -> Mapping[str, Any]:
    """The parsed error reply of a ClientError; {} for anything else (a timeout carries no reply)."""
    from botocore.exceptions import ClientError  # loaded with boto3 anyway by the call that failed

    return error.response if isinstance(error, ClientError) else {}


def error_code(error: BaseException) -> str:
    """The AWS error code of a ClientError ("ConditionalCheckFailedException", ...); "" for anything else."""
    return str(error_response(error).get("Error", {}).get("Code", ""))
