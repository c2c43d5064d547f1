"""Seed the demo catalog THROUGH the gateway, as the merchant, so seeding exercises the real API.

Strict: every demo SKU must be created (201) or already there (409), or the start fails with
`SeedingFailed`, naming each SKU and the answer it got. A runtime that answers /health with 200 has the
whole demo catalog.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import requests

log = logging.getLogger("infra.local.seed")

CATALOG = Path(__file__).with_name("demo_catalog.json")
ATTEMPTS = 3  # per SKU, for a connection that breaks; a retried POST that had landed answers 409


class SeedingFailed(RuntimeError):
    """At least one demo SKU is not in the catalog after seeding."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} demo SKU(s) not seeded: " + "; ".join(problems))
        self.problems = problems


def load_catalog(path: Path = CATALOG) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return items


def login(idp: Any, client_id: str, username: str, password: str) -> str:
    """An ID token (it carries `cognito:groups`, which the handlers check) via USER_PASSWORD_AUTH."""
    reply = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return str(reply["AuthenticationResult"]["IdToken"])


def seed_catalog(api_url: str, token: str, items: list[dict[str, Any]]) -> int:
    """POST each item to /merchant/skus; returns how many were created (the rest were there already).

    Raises SeedingFailed after trying every item if any of them is neither created nor already there."""
    created, problems = 0, []
    with requests.Session() as http:
        for item in items:
            status, problem = _post(http, api_url, token, item)
            if problem:
                problems.append(problem)
            created += status == 201
    if problems:
        raise SeedingFailed(problems)
    return created


def _post(http: requests.Session, api_url: str, token: str, item: dict[str, Any]) -> tuple[int, str]:
    """(status, "") when the SKU is in the catalog afterwards, else (status, what went wrong)."""
    problem = ""
    for attempt in range(ATTEMPTS):
        try:
            reply = http.post(f"{api_url}/merchant/skus", json=item,
                              headers={"Authorization": f"Bearer {token}"}, timeout=30)
        except requests.RequestException as exc:
            problem = f"{item['sku']}: {type(exc).__name__}: {exc}"
            time.sleep(0.2 * (attempt + 1))
            continue
        if reply.status_code in (200, 201, 409):  # 409: already there (a retried POST that had landed)
            return reply.status_code, ""
        return reply.status_code, f"{item['sku']}: HTTP {reply.status_code} {reply.text[:300]}"
    return 0, problem
