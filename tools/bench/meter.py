"""Counts what the local runtime asks of AWS, by AWS's own billing rules (cost benchmark only).

Two halves:

* Pure unit-accounting rules (`item_size`, `read_units`, `write_units`, `gsi_writes`): DynamoDB's item
  size and capacity-unit rules, unit-tested in tests/unit/bench/test_cost_model.py.
* `Meter`, which patches, in this process, the moto server's request dispatch and the DynamoDB, SQS,
  SNS and Step Functions backends, plus the local `Invoker` (durations) and botocore (attribution).

Attribution: the Invoker wrapper records which function runs on the calling thread; a botocore patch
stamps that name on every outgoing AWS request as `x-order24-fn`; moto's dispatch reads it back on the
server thread. Requests without it come from the Step Functions interpreter (direct integrations) or
from the cost driver itself (tagged `driver`, never billed).
"""

from __future__ import annotations

import base64
import functools
import json
import math
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

HEADER = "x-order24-fn"
STEPFUNCTIONS = "stepfunctions"  # requests from the ASL interpreter (direct integrations)
DRIVER = "driver"  # the cost run's own observation reads: not billed

KB = 1024
WRITE_UNIT_BYTES = 1 * KB
READ_UNIT_BYTES = 4 * KB
SQS_CHUNK_BYTES = 64 * KB

# ---------------------------------------------------------------------------------------------------
# DynamoDB unit accounting (developer guide: "DynamoDB item sizes and formats", CapacityUnitCalculations;
# "Read/write capacity mode"; "Managing settings on provisioned/on-demand"; "Transactions: capacity").
# Values are in the low-level wire format: {"S": "..."}, {"N": "12"}, {"M": {...}}, ...


def number_size(text: str) -> int:
    """(1 byte per two significant digits) + 1; leading and trailing zeroes are trimmed."""
    try:
        significant = len(Decimal(text).normalize().as_tuple().digits)
    except InvalidOperation:
        significant = sum(ch.isdigit() for ch in text)
    significant = max(1, significant)
    return math.ceil(significant / 2) + 1


def _binary_len(value: Any) -> int:
    if isinstance(value, bytes | bytearray):
        return len(value)
    try:  # the wire format carries base64; DynamoDB counts the raw bytes
        return len(base64.b64decode(value, validate=True))
    except (ValueError, TypeError):
        return len(str(value).encode())


def value_size(value: Mapping[str, Any]) -> int:
    """Size of one attribute value (without its name)."""
    kind, raw = next(iter(value.items()))
    if kind == "S":
        return len(str(raw).encode("utf-8"))
    if kind == "N":
        return number_size(str(raw))
    if kind == "B":
        return _binary_len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(v).encode("utf-8")) for v in raw)
    if kind == "NS":
        return sum(number_size(str(v)) for v in raw)
    if kind == "BS":
        return sum(_binary_len(v) for v in raw)
    if kind == "L":  # 3 bytes overhead + each element + 1 byte per element
        return 3 + sum(value_size(v) + 1 for v in raw)
    if kind == "M":
        return 3 + sum(len(k.encode("utf-8")) + value_size(v) + 1 for k, v in raw.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(item: Mapping[str, Mapping[str, Any]] | None) -> int:
    """Sum of UTF-8 attribute name lengths plus value sizes; 0 for a missing item."""
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size: int, *, transactional: bool = False) -> int:
    """WRU for one item write: ceil(size / 1 KB), at least 1; transactions count double."""
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return units * (2 if transactional else 1)


def read_units(size: int, *, consistent: bool, transactional: bool = False) -> float:
    """RRU for one read of `size` bytes (one item, or a Query's summed result): ceil(size / 4 KB), at
    least 1; eventually consistent halves it; transactional reads double the strongly consistent price."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    if transactional:
        return float(units * 2)
    return float(units) if consistent else units / 2


@dataclass(frozen=True)
class IndexSpec:
    name: str
    pk: str
    sk: str
    projection: str = "KEYS_ONLY"


def index_entry(
    item: Mapping[str, Any] | None, index: IndexSpec, table_keys: tuple[str, str]
) -> dict[str, Any] | None:
    """The projected index entry of an item, or None when the item is absent from the (sparse) index."""
    if not item or index.pk not in item or index.sk not in item:
        return None
    if index.projection == "ALL":
        return dict(item)
    names = {index.pk, index.sk, *table_keys}
    return {name: value for name, value in item.items() if name in names}


def gsi_writes(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    indexes: Iterable[IndexSpec],
    table_keys: tuple[str, str],
) -> list[tuple[str, str, int]]:
    """(index, kind, WRU) for each index write a base-table write causes: an entry created (put), removed
    (delete), re-keyed (delete + put) or changed in place (put; only possible for non-key projections)."""
    writes: list[tuple[str, str, int]] = []
    for index in indexes:
        before, after = index_entry(old, index, table_keys), index_entry(new, index, table_keys)
        if before is None and after is None:
            continue
        if before is None:
            writes.append((index.name, "put", write_units(item_size(after))))
        elif after is None:
            writes.append((index.name, "delete", write_units(item_size(before))))
        elif (before.get(index.pk), before.get(index.sk)) != (after.get(index.pk), after.get(index.sk)):
            writes.append((index.name, "delete", write_units(item_size(before))))
            writes.append((index.name, "put", write_units(item_size(after))))
        elif before != after:
            writes.append((index.name, "update", write_units(item_size(after))))
    return writes


def chunks(payload_bytes: int, chunk: int = SQS_CHUNK_BYTES) -> int:
    """SQS and SNS bill each 64 KB chunk of a request's payload as one request."""
    return max(1, math.ceil(payload_bytes / chunk))


# ---------------------------------------------------------------------------------------------------
# The meter


_caller = threading.local()  # which function's code runs on this (client) thread
_server = threading.local()  # which function sent the request this moto server thread handles


def current_caller() -> str | None:
    return getattr(_caller, "fn", None)


def set_caller(name: str | None) -> None:
    _caller.fn = name


def _server_fn() -> str:
    return getattr(_server, "fn", None) or STEPFUNCTIONS


@dataclass
class Meter:
    """Counters keyed by (function, ...); only counted while `active`."""

    indexes: tuple[IndexSpec, ...] = ()
    table_keys: tuple[str, str] = ("PK", "SK")
    active: bool = False
    # (fn, op, target) -> units; target is "table" or the index name
    rru: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    wru: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    ddb_calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    sqs: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (fn, op, queue) -> billed requests
    sqs_messages: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # messages moved
    sns: Counter[str] = field(default_factory=Counter)  # fn -> billed publish requests
    sfn_starts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (fn, state machine) -> starts
    executions: list[Any] = field(default_factory=list)
    invocations: Counter[str] = field(default_factory=Counter)
    # Per invocation (infra.local.invoker.Timing): wall time in the handler, the handler thread's CPU time,
    # and time queued for the one local environment. docs/cost.md prices Lambda from CPU time and AWS calls.
    seconds: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    cpu_seconds: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    queued: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # (order id, function) -> seconds its workflow tasks queued for a local environment (AWS has no such wait)
    task_queued: Counter[tuple[str, str]] = field(default_factory=Counter)
    # state machine name -> the functions its Lambda tasks call (from the declaration)
    workflow_functions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _undo: list[Callable[[], None]] = field(default_factory=list)

    # -- recording

    def _add(self, counter: Counter[Any], key: Any, amount: Any = 1) -> None:
        if not self.active:
            return
        with self._lock:
            counter[key] += amount

    def ddb_read(self, fn: str, op: str, target: str, units: float) -> None:
        self._add(self.rru, (fn, op, target), units)
        self._add(self.ddb_calls, (fn, op))

    def ddb_write(
        self,
        fn: str,
        op: str,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
        *,
        transactional: bool = False,
        failed: bool = False,
    ) -> None:
        size = max(item_size(old), item_size(new))
        self._add(self.wru, (fn, op, "table"), write_units(size, transactional=transactional))
        if not failed:  # a failed condition writes nothing to any index
            for index, kind, units in gsi_writes(old, new, self.indexes, self.table_keys):
                self._add(self.wru, (fn, op, f"{index}:{kind}"), units)

    # -- patching

    def _patch(self, owner: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
        original = owner.__dict__[name] if name in owner.__dict__ else getattr(owner, name)
        setattr(owner, name, functools.wraps(original)(make(original)))
        self._undo.append(lambda: setattr(owner, name, original))

    def install(self) -> None:
        """Patch moto, botocore and the Invoker. Call before `infra.local.runtime.start`."""
        import botocore.endpoint
        from moto.core.responses import BaseResponse
        from moto.dynamodb.responses import DynamoHandler
        from moto.sns.models import SNSBackend
        from moto.sqs.models import SQSBackend

        from infra.local import moto_patches
        from infra.local.invoker import Invoker

        moto_patches.apply_dynamodb()  # our write wrappers sit on top of the serialising lock, sharing it
        lock = moto_patches.DYNAMODB_LOCK
        meter = self

        def send(original: Callable[..., Any]) -> Callable[..., Any]:
            def _send(endpoint: Any, request: Any) -> Any:
                fn = current_caller()
                if fn:
                    request.headers[HEADER] = fn
                return original(endpoint, request)

            return _send

        self._patch(botocore.endpoint.Endpoint, "_send", send)

        def dispatch(original: Callable[..., Any]) -> Callable[..., Any]:
            def call_action(handler: Any) -> Any:
                before = getattr(_server, "fn", None)
                _server.fn = handler.headers.get(HEADER) if handler.headers is not None else None
                try:
                    return original(handler)
                finally:
                    _server.fn = before

            return call_action

        self._patch(BaseResponse, "call_action", dispatch)
        if "call_action" in DynamoHandler.__dict__:
            self._patch(DynamoHandler, "call_action", dispatch)

        def invoke(original: Callable[..., Any]) -> Callable[..., Any]:
            def _invoke(invoker: Any, function: str, event: Any, **kwargs: Any) -> Any:
                before = current_caller()
                set_caller(function)
                try:
                    return original(invoker, function, event, **kwargs)
                finally:
                    set_caller(before)
                    timing = invoker.last_timing()
                    if meter.active:
                        with meter._lock:
                            meter.invocations[function] += 1
                            meter.seconds[function].append(timing.handler_s)
                            meter.cpu_seconds[function].append(timing.cpu_s)
                            meter.queued[function].append(timing.queued_s)
                            if kwargs.get("source") == "lambda" and isinstance(event, dict) and event.get("order_id"):
                                meter.task_queued[(str(event["order_id"]), function)] += timing.queued_s

            return _invoke

        self._patch(Invoker, "invoke", invoke)
        self._install_dynamodb(DynamoHandler, lock)
        self._install_sqs(SQSBackend)
        self._install_sns(SNSBackend)
        self._install_stepfunctions()

    def uninstall(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()

    # -- DynamoDB, at the API action (one billed request each), on the moto server thread

    def _install_dynamodb(self, handler_cls: Any, lock: Any) -> None:
        meter = self

        def lookup(handler: Any, table_name: str, key: dict[str, Any]) -> dict[str, Any] | None:
            backend = handler.dynamodb_backend
            table = backend.get_table(table_name)
            try:
                hash_value, range_value = backend.get_keys_value(table, key)
            except Exception:
                return None
            item = table.get_item(hash_value, range_value)
            return None if item is None else dict(item.to_json()["Attributes"])

        def key_of(handler: Any, table_name: str, item: dict[str, Any]) -> dict[str, Any]:
            table = handler.dynamodb_backend.get_table(table_name)
            names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
            return {name: item[name] for name in names if name in item}

        def single_write(op: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
            def make(original: Callable[..., Any]) -> Callable[..., Any]:
                def action(handler: Any) -> Any:
                    body = handler.body
                    name = body["TableName"]
                    key = key_of(handler, name, body["Item"]) if op == "PutItem" else body["Key"]
                    with lock:  # old and new images of the same write, as DynamoDB serialises per item
                        old = lookup(handler, name, key)
                        try:
                            result = original(handler)
                        except Exception:
                            meter.ddb_write(_server_fn(), op, old, None, failed=True)
                            meter._add(meter.ddb_calls, (_server_fn(), op))
                            raise
                        new = lookup(handler, name, key)
                    meter.ddb_write(_server_fn(), op, old, new)
                    meter._add(meter.ddb_calls, (_server_fn(), op))
                    return result

                return action

            return make

        for method, op in (
            ("put_item", "PutItem"),
            ("update_item", "UpdateItem"),
            ("delete_item", "DeleteItem"),
        ):
            self._patch(handler_cls, method, single_write(op))

        def transact_write(original: Callable[..., Any]) -> Callable[..., Any]:
            def action(handler: Any) -> Any:
                entries = []
                with lock:
                    for entry in handler.body.get("TransactItems", []):
                        kind, op = next(iter(entry.items()))
                        key = key_of(handler, op["TableName"], op["Item"]) if kind == "Put" else op["Key"]
                        entries.append((kind, op["TableName"], key, lookup(handler, op["TableName"], key)))
                    try:
                        result = original(handler)
                        failed = False
                    except Exception:
                        failed = True
                        raise
                    finally:
                        fn = _server_fn()
                        label = "TransactWriteItems" + (":cancelled" if failed else "")
                        for kind, table_name, key, old in entries:
                            new = (
                                old
                                if failed or kind == "ConditionCheck"
                                else lookup(handler, table_name, key)
                            )
                            meter.ddb_write(
                                fn, f"{label}:{kind}", old, new, transactional=True, failed=failed
                            )
                        meter._add(meter.ddb_calls, (fn, label))
                return result

            return action

        self._patch(handler_cls, "transact_write_items", transact_write)

        def batch_write(original: Callable[..., Any]) -> Callable[..., Any]:
            def action(handler: Any) -> Any:
                entries = []
                with lock:
                    for table_name, requests in handler.body.get("RequestItems", {}).items():
                        for request in requests:
                            if "PutRequest" in request:
                                key = key_of(handler, table_name, request["PutRequest"]["Item"])
                            else:
                                key = request["DeleteRequest"]["Key"]
                            entries.append((table_name, key, lookup(handler, table_name, key)))
                    result = original(handler)
                    for table_name, key, old in entries:
                        meter.ddb_write(_server_fn(), "BatchWriteItem", old, lookup(handler, table_name, key))
                meter._add(meter.ddb_calls, (_server_fn(), "BatchWriteItem"))
                return result

            return action

        self._patch(handler_cls, "batch_write_item", batch_write)

        def get_item(original: Callable[..., Any]) -> Callable[..., Any]:
            def action(handler: Any) -> Any:
                result = original(handler)
                body = handler.body
                size = item_size(lookup(handler, body["TableName"], body["Key"]))
                meter.ddb_read(
                    _server_fn(),
                    "GetItem",
                    "table",
                    read_units(size, consistent=bool(body.get("ConsistentRead"))),
                )
                return result

            return action

        self._patch(handler_cls, "get_item", get_item)

        def batch_get(original: Callable[..., Any]) -> Callable[..., Any]:
            def action(handler: Any) -> Any:
                result = original(handler)
                units = 0.0
                for table_name, spec in handler.body.get("RequestItems", {}).items():
                    for key in spec.get("Keys", []):  # each item rounded up on its own
                        size = item_size(lookup(handler, table_name, key))
                        units += read_units(size, consistent=bool(spec.get("ConsistentRead")))
                meter.ddb_read(_server_fn(), "BatchGetItem", "table", units)
                return result

            return action

        self._patch(handler_cls, "batch_get_item", batch_get)

        def transact_get(original: Callable[..., Any]) -> Callable[..., Any]:
            def action(handler: Any) -> Any:
                result = original(handler)
                units = 0.0
                for entry in handler.body.get("TransactItems", []):
                    get = entry["Get"]
                    size = item_size(lookup(handler, get["TableName"], get["Key"]))
                    units += read_units(size, consistent=True, transactional=True)
                meter.ddb_read(_server_fn(), "TransactGetItems", "table", units)
                return result

            return action

        self._patch(handler_cls, "transact_get_items", transact_get)

        # Query and Scan: the backend returns the matched items; DynamoDB sums their sizes (the full
        # item on the table, the projected entry on an index) and rounds the sum up to 4 KB.
        from moto.dynamodb.models import DynamoDBBackend

        def query_like(op: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
            def make(original: Callable[..., Any]) -> Callable[..., Any]:
                def call(backend: Any, *args: Any, **kwargs: Any) -> Any:
                    result = original(backend, *args, **kwargs)
                    table_name = args[0] if args else kwargs.get("table_name")
                    index_name = kwargs.get("index_name")
                    if index_name is None and op == "Query" and len(args) > 8:
                        index_name = args[8]
                    consistent = bool(kwargs.get("consistent_read"))
                    table = backend.get_table(table_name)
                    total = 0
                    spec = next((i for i in meter.indexes if i.name == index_name), None)
                    for item in result[0]:
                        attrs = item.to_json()["Attributes"]
                        key = {n: attrs[n] for n in meter.table_keys if n in attrs}
                        full = None
                        try:
                            h, r = backend.get_keys_value(table, key)
                            stored = table.get_item(h, r)
                            full = None if stored is None else dict(stored.to_json()["Attributes"])
                        except Exception:
                            full = attrs
                        full = full or attrs
                        total += item_size(index_entry(full, spec, meter.table_keys) if spec else full)
                    meter.ddb_read(
                        _server_fn(),
                        op,
                        index_name or "table",
                        read_units(total, consistent=consistent and index_name is None),
                    )
                    return result

                return call

            return make

        self._patch(DynamoDBBackend, "query", query_like("Query"))
        self._patch(DynamoDBBackend, "scan", query_like("Scan"))

    # -- SQS, SNS, Step Functions at the backend (guarded against nested calls)

    def _guarded(self, record: Callable[..., None]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def call(backend: Any, *args: Any, **kwargs: Any) -> Any:
                if getattr(_server, "nested", False):
                    return original(backend, *args, **kwargs)
                _server.nested = True
                try:
                    result = original(backend, *args, **kwargs)
                finally:
                    _server.nested = False
                record(result, *args, **kwargs)
                return result

            return call

        return make

    def _install_sqs(self, backend_cls: Any) -> None:
        def queue(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
            return str(args[0] if args else kwargs.get("queue_name", "?"))

        def sent(result: Any, *args: Any, **kwargs: Any) -> None:
            body = args[1] if len(args) > 1 else kwargs.get("message_body", "")
            self._add(
                self.sqs, (_server_fn(), "SendMessage", queue(args, kwargs)), chunks(len(str(body).encode()))
            )
            self._add(self.sqs_messages, (_server_fn(), "SendMessage", queue(args, kwargs)))

        def sent_batch(result: Any, *args: Any, **kwargs: Any) -> None:
            entries = args[1] if len(args) > 1 else kwargs.get("entries", [])
            size = sum(len(str(e.get("MessageBody", "")).encode()) for e in entries)
            self._add(self.sqs, (_server_fn(), "SendMessageBatch", queue(args, kwargs)), chunks(size))
            self._add(
                self.sqs_messages, (_server_fn(), "SendMessageBatch", queue(args, kwargs)), len(entries)
            )

        def received(result: Any, *args: Any, **kwargs: Any) -> None:
            messages = list(result or [])
            op = "ReceiveMessage" if messages else "ReceiveMessage:empty"
            size = sum(len(str(getattr(m, "body", "")).encode()) for m in messages)
            self._add(self.sqs, (_server_fn(), op, queue(args, kwargs)), chunks(size))
            self._add(self.sqs_messages, (_server_fn(), op, queue(args, kwargs)), len(messages))

        def deleted(op: str) -> Callable[..., None]:
            def record(result: Any, *args: Any, **kwargs: Any) -> None:
                self._add(self.sqs, (_server_fn(), op, queue(args, kwargs)))
                count = len(args[1]) if op == "DeleteMessageBatch" and len(args) > 1 else 1
                self._add(self.sqs_messages, (_server_fn(), op, queue(args, kwargs)), count)

            return record

        self._patch(backend_cls, "send_message", self._guarded(sent))
        self._patch(backend_cls, "send_message_batch", self._guarded(sent_batch))
        self._patch(backend_cls, "receive_message", self._guarded(received))
        self._patch(backend_cls, "delete_message", self._guarded(deleted("DeleteMessage")))
        self._patch(backend_cls, "delete_message_batch", self._guarded(deleted("DeleteMessageBatch")))
        self._patch(
            backend_cls, "change_message_visibility", self._guarded(deleted("ChangeMessageVisibility"))
        )

    def _install_sns(self, backend_cls: Any) -> None:
        def published(result: Any, *args: Any, **kwargs: Any) -> None:
            message = args[0] if args else kwargs.get("message", "")
            self._add(self.sns, _server_fn(), chunks(len(str(message).encode())))

        self._patch(backend_cls, "publish", self._guarded(published))
        def published_batch(result: Any, *args: Any, **kwargs: Any) -> None:
            entries = args[1] if len(args) > 1 else kwargs.get("publish_batch_request_entries", [])
            size = sum(len(str(entry.get("Message", "")).encode()) for entry in entries or [])
            self._add(self.sns, _server_fn(), chunks(size))  # one request per 64 KB of the whole batch

        if hasattr(backend_cls, "publish_batch"):
            self._patch(backend_cls, "publish_batch", self._guarded(published_batch))

    def _install_stepfunctions(self) -> None:
        def started(result: Any, *args: Any, **kwargs: Any) -> None:
            arn = str(args[0] if args else kwargs.get("state_machine_arn", "?"))
            self._add(self.sfn_starts, (_server_fn(), arn.rsplit(":", 1)[-1]))
            if self.active:
                with self._lock:
                    self.executions.append(result)

        from moto.stepfunctions.models import StepFunctionBackend

        self._patch(StepFunctionBackend, "start_execution", self._guarded(started))
        try:
            from moto.stepfunctions.parser.models import StepFunctionsParserBackend
        except ImportError:
            return
        if "start_execution" in StepFunctionsParserBackend.__dict__:
            self._patch(StepFunctionsParserBackend, "start_execution", self._guarded(started))

    # -- results

    def execution_seconds(self) -> list[tuple[str, float | None, float]]:
        """(state machine name, seconds from start to stop, seconds its tasks queued for a local environment)
        of each execution started while active. An order's queueing is shared out over its executions of
        that machine (a replay or a reviewer's restart is a second one)."""
        rows: list[tuple[str, float | None, str]] = []
        for execution in self.executions:
            start, stop = getattr(execution, "start_date", None), getattr(execution, "stop_date", None)
            arn = str(getattr(execution, "state_machine_arn", "") or getattr(execution, "execution_arn", ""))
            name = arn.split(":stateMachine:")[-1].split(":")[0] if ":stateMachine:" in arn else arn
            rows.append((name, (stop - start).total_seconds() if start and stop else None,
                         _order_id(getattr(execution, "execution_input", None))))
        executions_of = Counter((self._workflow(name), order_id) for name, _, order_id in rows)
        out: list[tuple[str, float | None, float]] = []
        for name, seconds, order_id in rows:
            workflow = self._workflow(name)
            queued = sum(self.task_queued[(order_id, fn)] for fn in self.workflow_functions.get(workflow, ()))
            out.append((name, seconds, queued / max(1, executions_of[(workflow, order_id)])))
        return out

    def _workflow(self, state_machine: str) -> str:
        """The declared workflow a deployed state machine name belongs to (names carry a prefix)."""
        return next((w for w in self.workflow_functions if state_machine.endswith(w)), state_machine)


def _order_id(execution_input: Any) -> str:
    try:
        found = json.loads(execution_input or "{}").get("order_id")
    except (ValueError, AttributeError):
        return ""
    return str(found or "")
