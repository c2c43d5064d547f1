"""End-to-end fixtures: the real `python -m infra.local` in a subprocess, driven over HTTP.

Every e2e test gets the parsed `stack.json` from `local_stack`, a token from `token_for(...)` and the
`api(...)` helper. Mark e2e tests `@pytest.mark.e2e` and `@pytest.mark.xdist_group("e2e")` so the
suite (`pytest -n 2 --dist loadgroup`) starts one stack, in one worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90

# Environment for the stack under test; tests that need other timings change this module-level dict
# (before the session fixture starts).
STACK_ENV: dict[str, str] = {
    "PAYMENT_TIMEOUT_SECONDS": "90",  # long enough that no e2e order expires while a test still uses it
    "SWEEP_INTERVAL_SECONDS": "2",
    "LOCAL_VISIBILITY_TIMEOUT_SECONDS": "2",
    # Two demo shoppers place 100 orders in seconds; in shadow mode risk scores them without blocking.
    "RISK_MODE": "shadow",
}

# Seconds from spawning the process to /health answering, for the report.
STARTUP: dict[str, float] = {}


def _wait_for_stack(proc: subprocess.Popen[bytes], stack_file: Path, log: Path) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"infra.local exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        if stack_file.exists():
            try:
                stack: dict[str, Any] = json.loads(stack_file.read_text())
            except json.JSONDecodeError:  # being written
                stack = {}
            if stack:
                try:
                    health = requests.get(f"{stack['api_url']}/health", timeout=2)
                    if health.status_code == 200:
                        return stack
                except requests.RequestException:
                    pass
        time.sleep(0.2)
    raise TimeoutError(f"local stack not healthy after {START_TIMEOUT_S}s:\n{log.read_text()[-4000:]}")


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state_dir = tmp_path_factory.mktemp("local-stack")
    log = state_dir / "infra-local.log"
    env = {**os.environ, **STACK_ENV, "PORT": "0", "LOCAL_STATE_DIR": str(state_dir), "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "infra.local"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        stack = _wait_for_stack(proc, state_dir / "stack.json", log)
        STARTUP["seconds"] = time.monotonic() - started
        stack["_log"] = str(log)
        yield stack
    finally:
        _terminate(proc)


@pytest.fixture(scope="session")
def token_for(local_stack: dict[str, Any]) -> Callable[..., str]:
    """token_for("merchant") or token_for("shopper2"): a real Cognito token via USER_PASSWORD_AUTH."""
    idp = boto3.client(
        "cognito-idp", endpoint_url=local_stack["aws_endpoint_url"], region_name=local_stack["region"],
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    cache: dict[tuple[str, str], str] = {}

    def token(role_or_username: str, kind: str = "IdToken") -> str:
        key = (role_or_username, kind)
        if key not in cache:
            user = next(u for u in local_stack["users"]
                        if role_or_username in (u["username"], u["role"]))
            reply = idp.initiate_auth(
                ClientId=local_stack["user_pool_client_id"], AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": user["username"], "PASSWORD": user["password"]},
            )
            cache[key] = reply["AuthenticationResult"][kind]
        return cache[key]

    return token


@pytest.fixture(scope="session")
def api(local_stack: dict[str, Any]) -> Callable[..., requests.Response]:
    """api("POST", "/orders", token=..., json=..., headers=...) -> requests.Response."""
    session = requests.Session()

    def call(method: str, path: str, token: str | None = None, json: Any = None,
             headers: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        return session.request(method, f"{local_stack['api_url']}{path}", json=json, headers=all_headers,
                               timeout=kwargs.pop("timeout", 30), **kwargs)

    return call
