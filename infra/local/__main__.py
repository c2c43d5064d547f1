"""`make run`: the whole platform on loopback, built from `infra.declaration`.

Environment: PORT (default 8024, 0 = any free port), LOCAL_STATE_DIR (default .local),
LOCAL_VISIBILITY_TIMEOUT_SECONDS (default 2), LOCAL_FAULT_RATE / LOCAL_FAULT_FUNCTIONS (default off),
and each schedule's `local_env_override` (e.g. SWEEP_INTERVAL_SECONDS).

SIGINT (Ctrl-C) and SIGTERM both stop it cleanly: gateway, pollers and moto stopped, ports freed, exit 0.
A start that fails (e.g. a demo SKU that cannot be seeded) exits 1 after tearing down what it started.

Under `make run` this process is make's child. GNU make passes SIGTERM on to it, and Ctrl-C reaches both
(the terminal signals the whole foreground group), but a SIGINT, SIGHUP or SIGQUIT sent to make's PID alone
is not passed on: make waits, inside its signal handler, for its children to end. `watch_make` sees that
(Linux: the signal is blocked in make's /proc status while its handler runs) and stops this process, as
it does when make disappears.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import NoReturn

from infra.local.runtime import DEFAULT_STATE_DIR, start
from infra.local.runtime import print_line as say
from infra.local.sandbox_routes import LOCAL_DECLARATION
from infra.local.seed import SeedingFailed


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    port = int(os.environ.get("PORT") or 8024)
    state_dir = Path(os.environ.get("LOCAL_STATE_DIR") or DEFAULT_STATE_DIR)

    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()
        signal.signal(signum, signal.SIG_DFL)  # a second Ctrl-C kills at once if stopping hangs

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    watch_make(stopping)

    t0 = time.monotonic()
    try:
        runtime = start(LOCAL_DECLARATION, port=port, state_dir=state_dir)
    except SeedingFailed as failed:
        say(f"FAILED: {failed}")
        _leave(1)
    say("demo users (Cognito USER_PASSWORD_AUTH):")
    for user in runtime.resources.users:
        say(f"  {user['username']:<10} {user['password']:<16} {user['role']}")
    say(f"stack description: {runtime.stack_path.resolve()}")
    say(f"READY in {time.monotonic() - t0:.1f}s: {runtime.api_url}  (try: curl {runtime.api_url}/health)")
    say("Ctrl-C to stop")

    while not stopping.wait(0.5):
        pass
    say("stopping ...")
    runtime.stop()
    say("stopped")
    _leave(0)


# While a handler runs, the kernel blocks its signal: these in make's SigBlk mean make is stopping on one.
MAKE_STOP_SIGNALS = (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


def _blocked_signals(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return None
    line = next((ln for ln in status.splitlines() if ln.startswith("SigBlk:")), None)
    return int(line.split()[1], 16) if line else None


def make_is_stopping(pid: int) -> bool:
    """Is `pid` (make) inside its handler for SIGINT, SIGHUP or SIGQUIT, waiting for its children?"""
    blocked = _blocked_signals(pid)
    return blocked is not None and any(blocked & (1 << (sig - 1)) for sig in MAKE_STOP_SIGNALS)


def watch_make(stopping: threading.Event, interval_s: float = 0.5) -> threading.Thread | None:
    """When run by make (`make run`), stop when make is stopping on a signal it does not pass on, or is gone."""
    parent = os.getppid()
    try:
        name = Path(f"/proc/{parent}/comm").read_text(encoding="utf-8").strip()
    except OSError:
        return None  # no /proc (not Linux): make's own SIGTERM forwarding and Ctrl-C still apply
    if name not in ("make", "gmake"):
        return None

    def watch() -> None:
        seen = 0  # two polls in a row, so a signal make blocks for a moment is not taken for a stop
        while not stopping.wait(interval_s):
            seen = seen + 1 if os.getppid() != parent or make_is_stopping(parent) else 0
            if seen >= 2:
                say("make is stopping: stopping too")
                stopping.set()

    thread = threading.Thread(target=watch, name="watch-make", daemon=True)
    thread.start()
    return thread


def _leave(code: int) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    # moto runs Step Functions executions on threads that may still be waiting (Wait states, retries);
    # they hold nothing we need, so leave without joining them.
    os._exit(code)


if __name__ == "__main__":
    raise SystemExit(main())
