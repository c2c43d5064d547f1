"""An AWS dependency that times out or throttles is a 503 to retry, never a 500 (found by make stress: a DynamoDB
read timeout made `is_conditional_failure` raise AttributeError and POST /orders answer 500)."""

from __future__ import annotations

from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from shared.core.ddb import is_conditional_failure
from shared.core.errors import Unavailable, as_unavailable


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "PutItem")


def test_a_read_timeout_is_not_a_conditional_failure_and_does_not_raise() -> None:
    assert is_conditional_failure(ReadTimeoutError(endpoint_url="http://127.0.0.1:1/")) is False
    assert is_conditional_failure(client_error("ConditionalCheckFailedException")) is True


def test_timeouts_lost_connections_and_throttles_become_503_temporarily_unavailable() -> None:
    for error in (ReadTimeoutError(endpoint_url="http://127.0.0.1:1/"),
                  EndpointConnectionError(endpoint_url="http://127.0.0.1:1/"),
                  client_error("ProvisionedThroughputExceededException"), client_error("ThrottlingException")):
        unavailable = as_unavailable(error)
        assert isinstance(unavailable, Unavailable), error
        assert unavailable.status == 503 and unavailable.code == "temporarily_unavailable"


def test_a_real_defect_stays_a_defect() -> None:
    assert as_unavailable(client_error("ValidationException")) is None
    assert as_unavailable(AttributeError("x")) is None
