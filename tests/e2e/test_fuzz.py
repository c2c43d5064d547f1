"""Schemathesis against the running local stack's own `/openapi.json`, with real Cognito tokens.

Each operation is called with the token of the role it is for, and about one case in five with another
role's token. Every answer must be below 500 and match the documented status codes, content types and
schemas (errors are `4XX` application/problem+json). The partner callback routes (`/payments/*/notify`,
`/logistics/*/notify`) answer the partners' own bodies (WeChat Pay JSON or 204, Alipay `success`/`fail`,
Kuaidi100 JSON), so for them only "no 5xx" is checked. Cases per operation: env FUZZ_EXAMPLES.
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.helpers import Stack, env_int, report_result

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

EXAMPLES = env_int("FUZZ_EXAMPLES", 10)
ROLES = ("shopper", "merchant", "reviewer", "ops")
PARTNER_PREFIXES = ("/payments/", "/logistics/")
CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance,
               response_schema_conformance]
TALLY: Counter[str] = Counter()
_turn = itertools.count()


def role_for(path: str) -> str | None:
    """The role an operation is for (the handlers' require_role); None for public routes."""
    for prefix, role in (("/merchant/", "merchant"), ("/review/", "reviewer"), ("/ops/", "ops"),
                         ("/orders", "shopper"), ("/me/", "shopper")):
        if path.startswith(prefix):
            return role
    return None


def call(case: Any, stack: Stack) -> str | None:
    """One case with the right (or, one in five, a wrong) role's token; the failure text, if any."""
    path = case.operation.path
    headers: dict[str, str] = {}
    role = role_for(path)
    if role is not None:
        if next(_turn) % 5 == 4:  # a valid token of another role
            role = ROLES[(ROLES.index(role) + 1) % len(ROLES)]
        headers["Authorization"] = f"Bearer {stack.token(role)}"
    if case.method.upper() == "POST" and path == "/orders" and next(_turn) % 4:
        headers["Idempotency-Key"] = str(uuid.uuid4())  # most cases get past the 400 to validation
    partner = path.startswith(PARTNER_PREFIXES)
    try:
        response = case.call_and_validate(
            base_url=stack.api_url, session=stack.session, headers=headers,
            checks=[not_a_server_error] if partner else CONFORMANCE, timeout=30)
    except requests.RequestException as error:  # a dropped connection is as bad as a 5xx
        return f"{case.method} {path}: {error!r}"
    except (AssertionError, FailureGroup) as error:  # schemathesis' failures: keep the first lines
        return f"{case.method} {path} as {role}: {str(error)[:1500]}"
    TALLY[str(response.status_code)[0] + "xx"] += 1
    return None


def test_every_operation_answers_below_500_and_as_documented(local_stack: dict[str, Any]) -> None:
    # The operations are looped here, not parametrized by schemathesis.pytest: its lazy loader sets
    # pytest's private `_nodeid`, which pytest 9 no longer has.
    stack = Stack(local_stack)
    api_schema = schemathesis.openapi.from_url(f"{stack.api_url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def run(case: Any) -> None:
            TALLY["cases"] += 1
            failure = call(case, stack)
            if failure and len(failures) < 50:
                failures.append(failure)

        run()
    report_result("fuzz", [f"fuzz: {operations} operations, {EXAMPLES} examples each, {TALLY['cases']} cases, "
                           f"answers {dict(TALLY)}, {len(failures)} failures kept"])
    assert not failures, "\n\n".join(dict.fromkeys(failures))
