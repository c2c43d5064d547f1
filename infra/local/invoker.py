"""Calls our real handlers in-process, the way Lambda would, and counts what it does.

Every path into a handler goes through `Invoker.invoke`: the gateway, the SQS and stream pollers,
the schedules and moto's Lambda (SDK `Invoke` and Step Functions tasks, see `moto_patches.install`).
That one choke point gives a realistic context object, per-function counters for the cost
benchmark and local fault injection (`LOCAL_FAULT_RATE`, `LOCAL_THROTTLE_RATE`, never deployed).
"""

from __future__ import annotations

import importlib
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from infra.declaration import Declaration, Function

Handler = Callable[[Any, Any], Any]
HandlerResolver = Callable[[str], Handler]

# Where a call comes from; fault injection only hits the asynchronous ones.
ASYNC_SOURCES = frozenset({"sqs", "stream", "lambda"})


class InjectedFault(Exception):
    """Raised instead of calling a handler when local fault injection fires (never deployed)."""


class InjectedThrottle(Exception):
    """Lambda refused the invocation (local throttle injection): `kind` is the AWS error code.

    The Lambda hook answers it as the Lambda API would (HTTP 429 TooManyRequestsException, HTTP 500
    ServiceException), so Step Functions sees `Lambda.<code>`; the pollers retry the batch as the ESM does.
    """

    def __init__(self, kind: str, source: str, function: str) -> None:
        super().__init__(f"local throttle injection ({source} -> {function}): {kind}")
        self.kind = kind


# LOCAL_THROTTLE_KINDS names -> the Lambda API error code and HTTP status it answers with.
THROTTLE_KINDS: dict[str, tuple[str, int]] = {
    "TooManyRequests": ("TooManyRequestsException", 429),
    "ServiceUnavailable": ("ServiceException", 500),
}


def import_handler(function: str) -> Handler:
    """The deployed entry point: functions/<name>/handler.py:handler."""
    module = importlib.import_module(f"functions.{function}.handler")
    handler: Handler = module.handler
    return handler


def import_local_handler(function: str) -> Handler:
    """A local-only route's function (a sandbox provider): infra/local/<name>.py:handler."""
    module = importlib.import_module(f"infra.local.{function}")
    handler: Handler = module.handler
    return handler


@dataclass
class LambdaContext:
    """The attributes of the Lambda Python runtime's context that Powertools and our code read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    _started: float = field(default_factory=time.monotonic)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"{time.strftime('%Y/%m/%d')}/[$LATEST]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        left = self.timeout_s - (time.monotonic() - self._started)
        return max(0, int(left * 1000))


@dataclass(frozen=True)
class Timing:
    """One invocation, measured by the invoker.

    queued_s: waiting for the function's one local environment (AWS would give it its own: not billed).
    handler_s: wall time in the handler, which Lambda bills; locally it includes moto and the other threads
        sharing the interpreter and the 2 cores.
    cpu_s: CPU time of the handler's own thread: our code's work, without moto's (moto answers on its
        server threads) and without waiting for the GIL.
    """

    queued_s: float = 0.0
    handler_s: float = 0.0
    cpu_s: float = 0.0


@dataclass
class FaultPlan:
    """LOCAL_FAULT_RATE: the handler raises (a bug); LOCAL_THROTTLE_RATE: Lambda refuses the call (a throttle
    or an unavailable service, LOCAL_THROTTLE_KINDS, default both, picked at random). Both hit only the
    functions listed in LOCAL_FAULT_FUNCTIONS (default: every function no route points at), asynchronously."""

    rate: float = 0.0
    functions: frozenset[str] = frozenset()
    rng: random.Random = field(default_factory=random.Random)
    throttle_rate: float = 0.0
    throttle_kinds: tuple[str, ...] = tuple(THROTTLE_KINDS)

    @classmethod
    def from_env(cls, env: dict[str, str], decl: Declaration) -> FaultPlan:
        rate = float(env.get("LOCAL_FAULT_RATE") or 0)
        throttle_rate = float(env.get("LOCAL_THROTTLE_RATE") or 0)
        kinds = tuple(k.strip() for k in (env.get("LOCAL_THROTTLE_KINDS") or "").split(",") if k.strip())
        unknown = set(kinds) - set(THROTTLE_KINDS)
        if unknown:
            raise ValueError(f"LOCAL_THROTTLE_KINDS: unknown {sorted(unknown)}; known {sorted(THROTTLE_KINDS)}")
        listed = [f.strip() for f in (env.get("LOCAL_FAULT_FUNCTIONS") or "").split(",") if f.strip()]
        if not listed:  # default: every function no route points at
            api = {r.function for r in (*decl.routes, *decl.local_only_routes)}
            listed = [f.name for f in decl.functions if f.name not in api]
        return cls(rate=max(0.0, min(1.0, rate)), functions=frozenset(listed),
                   throttle_rate=max(0.0, min(1.0, throttle_rate)), throttle_kinds=kinds or tuple(THROTTLE_KINDS))

    def _applies(self, function: str, source: str) -> bool:
        return source in ASYNC_SOURCES and function in self.functions

    def fires(self, function: str, source: str) -> bool:
        if self.rate <= 0 or not self._applies(function, source):
            return False
        return self.rng.random() < self.rate

    def throttles(self, function: str, source: str) -> str | None:
        """The throttle kind to answer instead of running the handler, or None."""
        if self.throttle_rate <= 0 or not self._applies(function, source):
            return None
        if self.rng.random() >= self.throttle_rate:
            return None
        return self.rng.choice(self.throttle_kinds)


class Invoker:
    """One declaration's handlers, imported lazily, called with a Lambda context, counted."""

    def __init__(
        self,
        decl: Declaration,
        *,
        arns: dict[str, str],
        resolver: HandlerResolver = import_handler,
        faults: FaultPlan | None = None,
    ) -> None:
        self.decl = decl
        self.arns = arns
        self.resolver = resolver
        self.faults = faults or FaultPlan()
        self._handlers: dict[str, Handler] = {}
        self.local_only: set[str] = set()
        self._lock = threading.Lock()
        # One execution environment per function: a Lambda environment handles one event at a time, and
        # Powertools keeps per-event state on module-level objects (the resolver's context, the batch
        # processor's results). Sharing them across threads would mix requests up. The resolvers' shared
        # current_event (a class attribute, across functions) is made per thread by powertools_isolation.
        self._environments: dict[str, threading.Lock] = {}
        self.invocations: Counter[str] = Counter()  # per function, one per handler call
        self.records: Counter[str] = Counter()  # per function, batch records (cost counts per message)
        self.errors: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()  # per function and kind, "risk:TooManyRequests"
        # The calling thread's last invocation (see Timing).
        self._timing = threading.local()
        self._known = {f.name: f for f in decl.functions}
        # Local-only routes (never deployed) name functions that live under infra/local/.
        for route in decl.local_only_routes:
            if route.function not in self._known:
                self._known[route.function] = Function(route.function, "local only", timeout_s=30)
                self.local_only.add(route.function)

    def knows(self, function: str) -> bool:
        return function in self._known

    @property
    def functions(self) -> list[str]:
        return list(self._known)

    def handler(self, function: str) -> Handler:
        found = self._handlers.get(function)
        if found is None:
            # Import outside the lock: a slow import must not stall other functions; Python's
            # per-module import lock already makes a concurrent first import safe.
            local = function in self.local_only and self.resolver is import_handler
            found = (import_local_handler if local else self.resolver)(function)
            with self._lock:
                self._handlers.setdefault(function, found)
        return found

    def warm(self, functions: Iterable[str]) -> list[str]:
        """Import handlers ahead of the first request; returns the ones that are not importable yet."""
        missing = []
        for name in functions:
            try:
                self.handler(name)
            except Exception:
                missing.append(name)
        return missing

    def context(self, function: str) -> LambdaContext:
        spec = self._known[function]
        return LambdaContext(
            function_name=function,
            invoked_function_arn=self.arns.get(function, ""),
            memory_limit_in_mb=spec.memory_mb,
            timeout_s=spec.timeout_s,
        )

    def last_timing(self) -> Timing:
        """The timing of this thread's last `invoke`; all zero when no handler ran."""
        return getattr(self._timing, "last", Timing())

    def invoke(self, function: str, event: Any, *, source: str, records: int = 1) -> Any:
        """Call the handler; exceptions propagate so each caller can shape them as AWS would."""
        self._timing.last = Timing()
        with self._lock:
            self.invocations[function] += 1
            self.records[function] += records
        if self.faults.fires(function, source):
            with self._lock:
                self.injected[function] += 1
            raise InjectedFault(f"local fault injection ({source} -> {function})")
        kind = self.faults.throttles(function, source)
        if kind is not None:
            with self._lock:
                self.throttled[f"{function}:{kind}"] += 1
            raise InjectedThrottle(kind, source, function)
        handler = self.handler(function)
        with self._lock:
            environment = self._environments.setdefault(function, threading.Lock())
        requested = time.perf_counter()
        try:
            with environment:
                acquired, cpu = time.perf_counter(), time.thread_time()
                try:
                    return handler(event, self.context(function))
                finally:
                    self._timing.last = Timing(queued_s=acquired - requested,
                                               handler_s=time.perf_counter() - acquired,
                                               cpu_s=time.thread_time() - cpu)
        except Exception:
            with self._lock:
                self.errors[function] += 1
            raise

    def stats(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                "invocations": dict(self.invocations),
                "records": dict(self.records),
                "errors": dict(self.errors),
                "injected_faults": dict(self.injected),
                "injected_throttles": dict(self.throttled),
            }
