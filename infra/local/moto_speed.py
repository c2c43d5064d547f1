"""Take moto's per-request overheads off the local runtime's hot loop (local only, never deployed).

Profiling the runtime under load (py-spy, `docs/benchmarks.md`) showed most of its CPU in moto's server,
not in our handlers:

1. moto's request dispatcher finds a backend by listing moto's package directory and `isdir`-ing every
   entry, under one global lock, on every request. The answer never changes in a process: cache it.
2. moto's Step Functions interpreter builds a new boto3 client (service model, endpoint resolution,
   a new connection pool) for every Lambda task. boto3 clients are thread-safe: keep one per
   region/service/endpoint.

Neither changes what moto answers; both only stop it from redoing the same work per request.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_applied = False
_lock = threading.Lock()


def apply() -> None:
    global _applied
    with _lock:
        if _applied:
            return
        _cache_backend_lookup()
        _reuse_step_functions_clients()
        _applied = True


def _cache_backend_lookup() -> None:
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    modules = frozenset(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules

    original = DomainDispatcherApplication.get_backend_for_host
    found: dict[str | None, Any] = {}

    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        if host not in found:  # called under the dispatcher's own lock
            found[host] = original(self, host)
        return found[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


def _reuse_step_functions_clients() -> None:
    import importlib

    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for

    @functools.wraps(original)
    def cached(region: str, service: str, state_credentials: Any = None) -> Any:
        if state_credentials is not None:  # a task with its own credentials keeps its own client
            return original(region, service, state_credentials)
        return _client(region, service, str(moto_server_port()))

    @functools.lru_cache(maxsize=64)
    def _client(region: str, service: str, port: str) -> Any:
        return original(region, service)

    boto_client.boto_client_for = cached
    # The interpreter's modules bound the function by name at import.
    for module_name in (
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported",
    ):
        module = importlib.import_module(module_name)
        if getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = cached  # type: ignore[attr-defined]
