"""Every patch of moto in one place: what moto 5.2.5 (pinned in pyproject.toml) gets wrong, and the test that
fails without the patch. Local runtime and tests only; never deployed.

Each patch, what moto 5.2.5 gets wrong, and its proving test (which fails when the patch is skipped):

* `dynamodb_request_lock`: moto checks a condition, then writes, in plain Python (and its request layer
  reads and copies items around the write). A second writer between the two passes the same condition,
  so two orders take the last unit, where DynamoDB serialises writes per item. Proof:
  tests/integration/test_moto_patches.py::test_two_takes_of_the_last_unit_at_once_let_only_one_through
* `dynamodb_streams_lock`: a stream read runs between a transaction's first write and its rollback. It
  delivers records that never committed, and the next commit reuses their sequence numbers behind the
  reader (lost). Proof:
  tests/integration/test_moto_atomic.py::test_a_stream_reader_never_sees_a_transaction_that_is_rolled_back
* `dynamodb_transaction_snapshot`: a cancelled transaction's stream records are still delivered; and to
  roll back, moto deep-copies every table it touches, stream included, so a transaction's cost grows with
  the table until a busy runtime times out. We snapshot only the items it touches and the stream's length.
  Two sites: `transact_write_items`, and the `copy` module of moto's DynamoDB models (tables are not
  deep-copied). Proof: all five tests of tests/integration/test_moto_atomic.py fail without the patch,
  and two of them with either site alone.
* `backend_lookup_cache`: moto's server finds a request's backend by listing its own package directory
  (about 1 to 3 ms, under the dispatcher's global lock) on every request. Proof:
  tests/integration/test_moto_patches.py::test_the_local_aws_does_not_list_moto_s_package_on_every_request
* `step_functions_client_reuse`: the ASL interpreter builds a new boto3 client (service model, endpoints,
  connection pool: about 6 ms) for every Lambda, DynamoDB and SQS task. Proof:
  tests/integration/test_moto_patches.py::test_step_functions_tasks_share_one_client_per_service
* `lambda_invoke_in_process` (`install(invoker)`): `Invoke` (SDK and Step Functions tasks) runs the
  function in Docker; we run the real handler in-process and answer Lambda's unhandled-error shape.
  Proof: in tests/integration/test_local_runtime.py,
  test_step_functions_catch_sees_the_handler_exception_class_name,
  test_uncaught_handler_exception_fails_the_execution_with_its_class_name and
  test_sdk_invoke_returns_the_unhandled_error_shape.

Dropped, because no test failed without them and none can while `dynamodb_request_lock` holds: a lock
around each `DynamoDBBackend` write method (put/update/delete_item, batch_write_item, execute_statement,
execute_transaction; every call reaches them through the locked request handler, in-process (`mock_aws`)
as in server mode, Step Functions' DynamoDB tasks included), and a cache of
`moto.backends.list_of_moto_modules` (with `backend_lookup_cache` it runs once per host, not per request).

To check a patch is still needed (after a moto upgrade), skip it and run its proving test:

    ORDER24_SKIP_MOTO_PATCHES=dynamodb_streams_lock .venv/bin/python -m pytest <proving test> -n 0 -p no:randomly

Not here: `infra/local/powertools_isolation.py` patches Powertools, not moto (its resolver keeps the request
on a class attribute; proof: test_two_http_functions_answering_at_once_each_see_their_own_request in
tests/integration/test_local_runtime.py); tests/conftest.py guards sockets; tools/bench/meter.py wraps moto
to count billed units for `make cost`, not to correct it.
"""

from __future__ import annotations

import copy
import functools
import importlib
import json
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.local.invoker import InjectedThrottle, Invoker

SKIP_ENV = "ORDER24_SKIP_MOTO_PATCHES"  # comma-separated patch names, to prove a patch is still needed
# One process-wide lock for DynamoDB (requests, stream reads, transactions); tools/bench/meter.py shares it.
DYNAMODB_LOCK = threading.RLock()

_applied: set[str] = set()
_apply_lock = threading.Lock()
log = logging.getLogger("infra.local.lambda")


def _skipped() -> set[str]:
    return {name.strip() for name in os.environ.get(SKIP_ENV, "").split(",") if name.strip()}


def _once(name: str, patch: Callable[[], None]) -> None:
    with _apply_lock:
        if name in _applied or name in _skipped():
            return
        patch()
        _applied.add(name)


def apply_dynamodb() -> None:
    """The DynamoDB patches: what tests on the in-process mock need (tests/conftest.py) and the runtime too."""
    _once("dynamodb_request_lock", _dynamodb_request_lock)
    _once("dynamodb_streams_lock", _dynamodb_streams_lock)
    _once("dynamodb_transaction_snapshot", _dynamodb_transaction_snapshot)


def apply() -> None:
    """Every patch but the Lambda hook (that one is `install(invoker)`), for the server-mode local runtime.
    Idempotent."""
    apply_dynamodb()
    _once("backend_lookup_cache", _backend_lookup_cache)
    _once("step_functions_client_reuse", _step_functions_client_reuse)


# -- DynamoDB --------------------------------------------------------------------------------------------


def _serialised(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        with DYNAMODB_LOCK:
            return original(self, *args, **kwargs)

    return call


def _dynamodb_request_lock() -> None:
    from moto.dynamodb.responses import DynamoHandler

    # Whole requests, not just the backend's write: the request layer reads and deep-copies items around the
    # backend call (e.g. UpdateItem's old image), which under concurrency iterates an item a write changes.
    DynamoHandler.call_action = _serialised(DynamoHandler.call_action)  # type: ignore[method-assign]


def _dynamodb_streams_lock() -> None:
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    DynamoDBStreamsHandler.call_action = _serialised(  # type: ignore[method-assign]
        DynamoDBStreamsHandler.call_action)


class _TablesAreSnapshottedByUs:
    """Stands in for the `copy` module inside moto.dynamodb.models: tables are not deep-copied there."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _key_of(table: Any, op_type: str, op: dict[str, Any]) -> tuple[Any, Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    attrs = op["Item"] if op_type == "Put" else op["Key"]
    hash_value = DynamoType(attrs[table.hash_key_attr])
    range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def _atomic_transaction(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def call(self: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        with DYNAMODB_LOCK:
            saved: list[tuple[Any, Any, Any, Any]] = []
            stream_lengths: dict[int, tuple[Any, int]] = {}
            for entry in transact_items:
                op_type, op = next(iter(entry.items()))
                table = self.tables.get(op.get("TableName"))
                if table is None or op_type not in ("Put", "Update", "Delete", "ConditionCheck"):
                    continue
                try:
                    hash_value, range_value = _key_of(table, op_type, op)
                except (KeyError, TypeError):
                    continue  # moto's own validation answers this one
                current = table.get_item(hash_value, range_value)
                saved.append((table, hash_value, range_value, copy.deepcopy(current)))
                if table.stream_shard is not None:
                    stream_lengths.setdefault(id(table), (table, len(table.stream_shard.items)))
            try:
                return original(self, transact_items, *args, **kwargs)
            except Exception:
                for table, hash_value, range_value, item in reversed(saved):
                    bucket = table.items[hash_value] if range_value is not None else table.items
                    slot = range_value if range_value is not None else hash_value
                    if item is None:
                        bucket.pop(slot, None)
                    else:
                        bucket[slot] = item
                for table, length in stream_lengths.values():
                    del table.stream_shard.items[length:]
                raise

    return call


def _dynamodb_transaction_snapshot() -> None:
    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend

    DynamoDBBackend.transact_write_items = _atomic_transaction(  # type: ignore[method-assign]
        DynamoDBBackend.transact_write_items)
    setattr(models, "copy", _TablesAreSnapshottedByUs)  # noqa: B010 (moto's own module attribute)


# -- the server's per-request overheads ---------------------------------------------------------------------


def _backend_lookup_cache() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    found: dict[str | None, Any] = {}

    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        if host not in found:  # called under the dispatcher's own lock
            found[host] = original(self, host)
        return found[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


def _step_functions_client_reuse() -> None:
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
        return original(region, service)  # boto3 clients are thread-safe

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


# -- Lambda: the real handlers, in-process -------------------------------------------------------------------
# One patch of `LambdaFunction.invoke` serves SDK `Invoke` and Step Functions Lambda tasks (moto's ASL
# interpreter calls Lambda through the server at MOTO_PORT). A raised exception becomes Lambda's
# unhandled-error payload plus the `X-Amz-Function-Error: Unhandled` header, so Step Functions sees the
# exception class name as `Error` for Retry and Catch, exactly as in AWS.

_active: Invoker | None = None
_original_invoke: Callable[..., Any] | None = None
_hook_lock = threading.Lock()


def error_payload(exc: BaseException) -> dict[str, Any]:
    """Lambda's unhandled-error shape for the Python runtime."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _lambda_refused(throttle: InjectedThrottle) -> Exception:
    """The Lambda API's own error reply (not the function's): moto's server answers it with its status."""
    from moto.core.exceptions import JsonRESTError

    from infra.local.invoker import THROTTLE_KINDS

    error_type, status = THROTTLE_KINDS[throttle.kind]
    refused = JsonRESTError(error_type, str(throttle))
    refused.code = status
    return refused


def _run(invoker: Invoker, name: str, event: Any) -> tuple[bytes, bool]:
    from infra.local.invoker import InjectedThrottle

    try:
        result = invoker.invoke(name, event, source="lambda")
    except InjectedThrottle:
        raise  # not the function's error: the Invoke call itself fails (see _invoke)
    except Exception as exc:
        return json.dumps(error_payload(exc)).encode(), True
    try:
        return json.dumps(result).encode(), False
    except (TypeError, ValueError) as exc:  # what Lambda answers for a reply it cannot serialise
        payload = {"errorMessage": str(exc), "errorType": "Runtime.MarshalError", "requestId": ""}
        return json.dumps(payload).encode(), True


def _invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> str | bytes:
    from infra.local.invoker import InjectedThrottle

    invoker = _active
    if invoker is None or not invoker.knows(self.function_name):
        assert _original_invoke is not None
        result: str | bytes = _original_invoke(self, body, request_headers, response_headers)
        return result
    event = json.loads(body) if body else {}
    invocation_type = request_headers.get("x-amz-invocation-type", "RequestResponse")
    if invocation_type == "DryRun":
        return b""
    if invocation_type == "Event":
        # Asynchronous: answer 202 now and run the handler on its own thread, as Lambda does.
        def background() -> None:
            for attempt in range(20):  # Lambda's async queue retries a throttled event for up to 6 hours
                try:
                    _, failed = _run(invoker, self.function_name, event)
                    break
                except InjectedThrottle:
                    time.sleep(min(0.1 * 2**attempt, 2.0))
            else:
                log.error("async invocation of %s throttled 20 times in a row; dropped", self.function_name)
                return
            if failed:
                log.warning("async invocation of %s failed", self.function_name)

        threading.Thread(target=background, name=f"lambda-{self.function_name}", daemon=True).start()
        return b""
    try:
        payload, failed = _run(invoker, self.function_name, event)
    except InjectedThrottle as throttle:
        raise _lambda_refused(throttle) from None  # HTTP 429/500 from the Lambda API -> Lambda.<code> in ASL
    if failed:
        response_headers["x-amz-function-error"] = "Unhandled"
    return payload


def install(invoker: Invoker) -> None:
    """Route moto Lambda invocations of the declaration's functions to `invoker` (one at a time): the
    `lambda_invoke_in_process` patch."""
    global _active, _original_invoke
    from moto.awslambda.models import LambdaFunction

    with _hook_lock:
        if "lambda_invoke_in_process" in _skipped():
            return
        if _original_invoke is None:
            _original_invoke = LambdaFunction.invoke
        _active = invoker
        LambdaFunction.invoke = _invoke  # type: ignore[method-assign]


def uninstall(invoker: Invoker) -> None:
    global _active
    from moto.awslambda.models import LambdaFunction

    with _hook_lock:
        if _active is invoker and _original_invoke is not None:
            _active = None
            LambdaFunction.invoke = _original_invoke  # type: ignore[method-assign]
