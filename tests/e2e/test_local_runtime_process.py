"""The local runtime as a process: started while clients poll it, stopped by signal as a terminal, a
supervisor or a test runner does.

Each test starts its own `python -m infra.local` (or `make run`) in a subprocess and waits until /health is
200. The signal tests then signal the PID they started and check that everything is gone: the process, the
gateway's port and moto's port. `make run` is started with `-o .venv/.installed` so it never installs.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from infra.local import seed
from tests.e2e.conftest import ROOT, _wait_for_stack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

STOP_TIMEOUT_S = 15


def _port_is_free(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as probe:
        return probe.connect_ex((parts.hostname or "127.0.0.1", parts.port or 80)) != 0


def _default_sigint() -> None:
    # A child of a background shell inherits SIGINT ignored; a terminal's foreground job does not.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Any]:
    started: list[subprocess.Popen[bytes]] = []

    def start(command: list[str], port: int = 0) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
        state_dir = tmp_path / "state"
        log = tmp_path / "run.log"
        env = {**os.environ, "PORT": str(port), "LOCAL_STATE_DIR": str(state_dir), "PYTHONUNBUFFERED": "1"}
        env.pop("AWS_ENDPOINT_URL", None)
        with log.open("wb") as out:
            proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=_default_sigint)
        started.append(proc)
        stack = _wait_for_stack(proc, state_dir / "stack.json", log)
        return proc, {**stack, "_log": str(log)}

    yield start
    for proc in started:  # only what this test started, by its own process group
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def _assert_all_gone(proc: subprocess.Popen[bytes], stack: dict[str, Any]) -> int:
    code = proc.wait(timeout=STOP_TIMEOUT_S)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and os.path.exists(f"/proc/{stack['pid']}"):
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{stack['pid']}"), "the runtime outlived the process we signalled"
    assert _port_is_free(stack["api_url"]) and _port_is_free(stack["aws_endpoint_url"])
    return code


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_the_runtime_stops_it_cleanly_and_frees_its_ports(spawn: Any, signum: int) -> None:
    proc, stack = spawn([sys.executable, "-m", "infra.local"])
    assert stack["pid"] == proc.pid

    proc.send_signal(signum)

    assert _assert_all_gone(proc, stack) == 0  # a clean stop, not a death by signal


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_sigterm_to_make_run_stops_the_runtime_it_started(spawn: Any) -> None:
    proc, stack = spawn(["make", "--no-print-directory", "-o", ".venv/.installed", "run"])
    assert stack["pid"] != proc.pid  # python runs as make's child

    proc.send_signal(signal.SIGTERM)  # GNU make passes SIGTERM on to the recipe, then dies of it

    _assert_all_gone(proc, stack)


@pytest.mark.skipif(shutil.which("make") is None or not Path("/proc/self/status").exists(),
                    reason="no make, or no /proc to see make stopping")
def test_sigint_to_make_run_alone_stops_the_runtime_it_started(spawn: Any) -> None:
    proc, stack = spawn(["make", "--no-print-directory", "-o", ".venv/.installed", "run"])

    proc.send_signal(signal.SIGINT)  # GNU make does not pass this on: it waits for its children

    _assert_all_gone(proc, stack)
    assert "make is stopping: stopping too" in Path(stack["_log"]).read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_ctrl_c_on_make_run_stops_the_runtime(spawn: Any) -> None:
    proc, stack = spawn(["make", "--no-print-directory", "-o", ".venv/.installed", "run"])

    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C: the whole foreground group

    _assert_all_gone(proc, stack)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_clients_polling_from_the_first_moment_see_starting_then_the_whole_catalog(spawn: Any) -> None:
    port = _free_port()
    answers: list[tuple[str, int, dict[str, Any]]] = []
    stop = threading.Event()

    def poll(path: str) -> None:  # a frontend dev server or a readiness script, from the moment the port opens
        with requests.Session() as http:
            while not stop.is_set():
                try:
                    reply = http.get(f"http://127.0.0.1:{port}{path}", timeout=5)
                except requests.RequestException:
                    time.sleep(0.02)
                    continue
                answers.append((path, reply.status_code, reply.json()))

    pollers = [threading.Thread(target=poll, args=(path,), daemon=True) for path in ("/health", "/catalog")]
    for poller in pollers:
        poller.start()
    try:
        _, stack = spawn([sys.executable, "-m", "infra.local"], port=port)
    finally:
        stop.set()
        for poller in pollers:
            poller.join(timeout=10)

    log = Path(stack["_log"]).read_text(encoding="utf-8")
    assert f"demo catalog: {len(seed.load_catalog())} SKUs in the catalog" in log, log[-2000:]
    health = [(status, body) for path, status, body in answers if path == "/health"]
    assert health and all(status in (200, 503) for status, _ in health)
    assert all(body["code"] == "starting" and body["pending"] for status, body in health if status == 503)
    statuses = [status for status, _ in health]
    assert 200 not in statuses or 503 not in statuses[statuses.index(200):]  # once ready, ready
