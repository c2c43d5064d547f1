"""Billed durations: Lambda bills the handler's time, not the wait for the one local environment."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta
from types import SimpleNamespace

from infra.declaration import DECLARATION
from infra.local.invoker import Invoker, Timing
from tools.bench.meter import Meter


def _invoker(handler_s: float) -> Invoker:
    def slow(event: object, context: object) -> str:
        time.sleep(handler_s)
        return "done"

    return Invoker(DECLARATION, arns={}, resolver=lambda name: slow)


def test_a_second_invocation_waits_for_the_environment_and_that_wait_is_not_handler_time() -> None:
    # given one environment for `deliver`, busy with a 0.2 s invocation
    invoker = _invoker(0.2)
    first = threading.Thread(target=invoker.invoke, args=("deliver", {}), kwargs={"source": "lambda"})
    first.start()
    time.sleep(0.05)
    # when a second invocation arrives meanwhile
    invoker.invoke("deliver", {}, source="lambda")
    first.join()
    timing = invoker.last_timing()
    # then it queued for the rest of the first one, and its own handler time is its 0.2 s alone,
    # of which almost none was CPU (it slept, as a handler waiting on DynamoDB does)
    assert 0.1 <= timing.queued_s < 0.2
    assert 0.19 <= timing.handler_s < 0.3
    assert timing.cpu_s < 0.05


def test_an_injected_fault_records_no_handler_time() -> None:
    invoker = _invoker(0.0)
    invoker.invoke("deliver", {}, source="lambda")
    invoker.faults.rate, invoker.faults.functions = 1.0, frozenset({"deliver"})
    try:
        invoker.invoke("deliver", {}, source="lambda")
    except Exception as error:
        assert type(error).__name__ == "InjectedFault"
    assert invoker.last_timing() == Timing()


def test_an_executions_billed_time_leaves_out_its_tasks_queueing_shared_over_its_runs() -> None:
    # given two fulfil executions for order A (a replay) and one for B, and A's tasks queued 0.6 s in all
    meter = Meter(indexes=(), table_keys=("PK", "SK"), workflow_functions={"fulfil": ("review_auto", "deliver")})
    start = datetime(2026, 12, 1)

    def execution(order_id: str, seconds: float) -> SimpleNamespace:
        return SimpleNamespace(start_date=start, stop_date=start + timedelta(seconds=seconds),
                               state_machine_arn="arn:aws:states:us-east-1:1:stateMachine:order24-fulfil",
                               execution_input=json.dumps({"order_id": order_id}))

    meter.executions = [execution("A", 1.0), execution("A", 0.5), execution("B", 0.3)]
    meter.task_queued[("A", "review_auto")] = 0.4
    meter.task_queued[("A", "deliver")] = 0.2
    meter.task_queued[("A", "risk")] = 5.0  # a checkout task: not this workflow's
    # when the executions are read
    rows = meter.execution_seconds()
    # then each of A's runs carries half of A's fulfil queueing, and B none
    assert [(name, round(s or 0, 3), round(q, 3)) for name, s, q in rows] == [
        ("order24-fulfil", 1.0, 0.3), ("order24-fulfil", 0.5, 0.3), ("order24-fulfil", 0.3, 0.0)]


def test_cpu_time_counts_the_handlers_own_work() -> None:
    def busy(event: object, context: object) -> int:
        deadline = time.thread_time() + 0.1
        while time.thread_time() < deadline:
            pass
        return 1

    invoker = Invoker(DECLARATION, arns={}, resolver=lambda name: busy)
    invoker.invoke("deliver", {}, source="lambda")
    assert invoker.last_timing().cpu_s >= 0.1
