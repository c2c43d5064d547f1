"""The local runtime as a frontend developer meets it: `make run`, then HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.utilities.utils import load_resource

from infra.local import seed

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

PROBLEM = "application/problem+json"


def _forged_token(stack: dict[str, Any], **overrides: Any) -> str:
    """A token with the right issuer and audience, signed by a key the pool never saw."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {
        "iss": f"https://cognito-idp.{stack['region']}.amazonaws.com/{stack['user_pool_id']}",
        "aud": stack["user_pool_client_id"], "sub": "someone", "token_use": "id",
        "cognito:groups": ["ops"], "iat": now, "exp": now + 3600, **overrides,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "dummy"})


def _assert_problem(reply: requests.Response, status: int, code: str) -> None:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith(PROBLEM)
    body = reply.json()
    assert body["status"] == status and body["code"] == code and body["type"] == "about:blank"


def test_health_answers_200_json(api: Callable[..., requests.Response]) -> None:
    reply = api("GET", "/health", timeout=5)

    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/json")
    assert isinstance(reply.json(), dict)


def test_unknown_route_answers_404_problem(api: Callable[..., requests.Response]) -> None:
    _assert_problem(api("GET", "/no/such/route"), 404, "route_not_found")


def test_known_path_with_wrong_method_answers_404(api: Callable[..., requests.Response]) -> None:
    _assert_problem(api("DELETE", "/health"), 404, "route_not_found")


def test_jwt_route_without_token_answers_401(api: Callable[..., requests.Response]) -> None:
    _assert_problem(api("GET", "/orders"), 401, "unauthorized")


def test_jwt_route_with_forged_token_answers_401(
    api: Callable[..., requests.Response], local_stack: dict[str, Any]
) -> None:
    _assert_problem(api("GET", "/orders", token=_forged_token(local_stack)), 401, "unauthorized")


def _pool_signed_token(stack: dict[str, Any], **overrides: Any) -> str:
    """Signed with the key moto signs every pool's tokens with, so only the other claims can fail."""
    private_jwk = load_resource("cognitoidp/resources/jwks-private.json")
    now = int(time.time())
    claims = {
        "iss": f"https://cognito-idp.{stack['region']}.amazonaws.com/{stack['user_pool_id']}",
        "aud": stack["user_pool_client_id"], "sub": "someone", "token_use": "id",
        "cognito:groups": ["shopper"], "iat": now, "exp": now + 3600, **overrides,
    }
    return jwt.encode(claims, jwt.PyJWK(private_jwk).key, algorithm="RS256", headers={"kid": "dummy"})


def test_jwt_route_with_expired_token_answers_401(
    api: Callable[..., requests.Response], local_stack: dict[str, Any]
) -> None:
    now = int(time.time())
    valid = _pool_signed_token(local_stack)
    expired = _pool_signed_token(local_stack, iat=now - 7200, exp=now - 3600)

    assert api("GET", "/orders", token=valid).status_code != 401  # the key is right ...
    _assert_problem(api("GET", "/orders", token=expired), 401, "unauthorized")  # ... only exp fails


def test_jwt_route_with_token_for_another_pool_answers_401(
    api: Callable[..., requests.Response], local_stack: dict[str, Any]
) -> None:
    other_issuer = f"https://cognito-idp.{local_stack['region']}.amazonaws.com/us-east-1_other"

    _assert_problem(api("GET", "/orders", token=_pool_signed_token(local_stack, iss=other_issuer)),
                    401, "unauthorized")


def test_token_from_initiate_auth_passes_the_authorizer(
    api: Callable[..., requests.Response], token_for: Callable[..., str]
) -> None:
    id_reply = api("GET", "/orders", token=token_for("shopper"))
    access_reply = api("GET", "/orders", token=token_for("shopper2", "AccessToken"))

    assert id_reply.status_code != 401, id_reply.text
    assert access_reply.status_code != 401, access_reply.text


def test_token_is_accepted_without_bearer_prefix(
    api: Callable[..., requests.Response], token_for: Callable[..., str]
) -> None:
    reply = api("GET", "/orders", headers={"Authorization": token_for("shopper")})

    assert reply.status_code != 401, reply.text


def test_stack_json_describes_the_stack(local_stack: dict[str, Any]) -> None:
    required = {"api_url", "aws_endpoint_url", "region", "user_pool_id", "user_pool_client_id", "users",
                "table_name", "queues", "dlqs", "state_machines", "topics"}

    assert required <= local_stack.keys()
    assert {u["role"] for u in local_stack["users"]} >= {"shopper", "merchant", "reviewer", "ops"}
    assert set(local_stack["queues"]) == set(local_stack["dlqs"])
    assert local_stack["api_url"].startswith("http://127.0.0.1:")


def test_demo_catalog_was_seeded_through_the_api(api: Callable[..., requests.Response]) -> None:
    # by category: the session's stack is shared, and other tests (the fuzzers) add SKUs that page the demo out
    for category in ("ad_placement", "tea"):
        reply = api("GET", f"/catalog?category={category}")
        assert reply.status_code == 200
        assert reply.json()["items"] and {item["category"] for item in reply.json()["items"]} == {category}


@pytest.mark.parametrize(
    ("what", "status", "code"),
    [
        ({"path": "/catalog?q=" + "a" * 11_000}, 414, "uri_too_long"),
        ({"path": "/catalog?q=" + "a" * 70_000}, 414, "uri_too_long"),  # past what http.server parses at all
        ({"headers": {"X-Big": "a" * 11_000}}, 431, "headers_too_large"),
        ({"headers": {"X-Big": "a" * 70_000}}, 431, "headers_too_large"),
        ({"headers": {f"X-H{i}": "v" for i in range(150)}}, 431, "headers_too_large"),
    ],
    ids=["uri-over-10KiB", "uri-over-64KiB", "header-over-10KiB", "header-over-64KiB", "150-headers"],
)
def test_oversized_uri_and_headers_answer_problem_json(
    api: Callable[..., requests.Response], what: dict[str, Any], status: int, code: str
) -> None:
    _assert_problem(api("GET", what.get("path", "/health"), headers=what.get("headers")), status, code)


def test_every_demo_sku_exists_after_start(api: Callable[..., requests.Response]) -> None:
    expected = {item["sku"]: item for item in seed.load_catalog()}

    found = {sku: api("GET", f"/catalog/{sku}") for sku in expected}

    assert {sku: reply.status_code for sku, reply in found.items()} == dict.fromkeys(expected, 200)
    assert all(found[sku].json()["price_fen"] == item["price_fen"] for sku, item in expected.items())


def test_the_start_log_reports_the_whole_demo_catalog(local_stack: dict[str, Any]) -> None:
    log = Path(local_stack["_log"]).read_text(encoding="utf-8")

    assert f"demo catalog: {len(seed.load_catalog())} SKUs in the catalog" in log


def test_stats_count_requests_per_route(api: Callable[..., requests.Response]) -> None:
    before = api("GET", "/_local/stats").json()["routes"].get("GET /health", 0)
    api("GET", "/health")

    after = api("GET", "/_local/stats").json()
    assert after["routes"]["GET /health"] == before + 1
    assert after["functions"]["invocations"]["api_catalog"] >= 1
