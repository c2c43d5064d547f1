"""Seed the demo catalog THROUGH the gateway, as the merchant, so seeding exercises the real API."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import requests

log = logging.getLogger("infra.local.seed")

CATALOG = Path(__file__).with_name("demo_catalog.json")


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


def seed_catalog(api_url: str, token: str, items: list[dict[str, Any]]) -> tuple[int, list[str]]:
    """POST each item to /merchant/skus. Tolerant: returns (created, problems) instead of raising."""
    created, problems = 0, []
    with requests.Session() as http:
        for item in items:
            try:
                reply = http.post(f"{api_url}/merchant/skus", json=item,
                                  headers={"Authorization": f"Bearer {token}"}, timeout=30)
            except requests.RequestException as exc:
                problems.append(f"{item['sku']}: {exc}")
                continue
            if reply.status_code in (200, 201, 409):  # 409: already there, fine on a re-seed
                created += reply.status_code != 409
                continue
            problems.append(f"{item['sku']}: HTTP {reply.status_code} {reply.text[:200]}")
            if reply.status_code in (404, 500) and created == 0:
                break  # the route or handler is not there yet; one warning is enough
    return created, problems
