"""The deployed workflows ride out a throttle for minutes and still fit in an Express execution's 5 minutes.

Read from the synthesized template (what CloudFormation deploys), not from infra/workflows.py: the local
runtime shortens the same numbers (`workflows.local_timings`), and this proves AWS gets the real ones.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from infra import workflows
from infra.declaration import queue_url_placeholders
from infra.local import plan
from tests.infra.conftest import Synth

EXPRESS_LIMIT_S = 300
THROTTLE = "Lambda.TooManyRequestsException"


def deployed(synth: Synth, name: str) -> dict[str, Any]:
    machine = synth.stack.state_machines[name]
    props = synth.raw["Resources"][synth.logical_id(machine)]["Properties"]
    keys = set(props["DefinitionSubstitutions"])
    return dict(json.loads(plan.substitute(props["DefinitionString"], {k: f"<{k}>" for k in keys})))


def retrier_wait_s(retrier: dict[str, Any]) -> float:
    """The longest a retrier waits in total: each delay is interval x backoff^n capped at MaxDelaySeconds
    (full jitter draws between 0 and that, so the cap is the worst case)."""
    interval, backoff = retrier.get("IntervalSeconds", 1), retrier.get("BackoffRate", 2.0)
    cap = retrier.get("MaxDelaySeconds", 10**9)
    return sum(min(interval * backoff**n, cap) for n in range(retrier.get("MaxAttempts", 3)))


def state_worst_s(state: dict[str, Any]) -> float:
    """Retry waits, plus every attempt a timeout retrier allows running into TimeoutSeconds. Throttled calls
    answer at once; a step's own work is milliseconds (docs/capacity.md) and is left out."""
    total = sum(retrier_wait_s(r) for r in state.get("Retry", []))
    timeout = state.get("TimeoutSeconds")
    if timeout:
        timeout_retries = sum(r.get("MaxAttempts", 3) for r in state.get("Retry", [])
                              if set(r["ErrorEquals"]) & set(workflows.TIMEOUT_ERRORS))
        total += (timeout_retries + 1) * timeout
    return total


def longest_path_s(definition: dict[str, Any]) -> tuple[float, list[str]]:
    states = definition["States"]

    @cache
    def worst(name: str) -> tuple[float, tuple[str, ...]]:
        state = states[name]
        nexts = {state.get("Next"), state.get("Default")} | {c["Next"] for c in state.get("Catch", [])}
        nexts |= {c["Next"] for c in state.get("Choices", [])}
        tails = [worst(n) for n in nexts if n]
        tail = max(tails, default=(0.0, ()))
        return state_worst_s(state) + tail[0], (name, *tail[1])

    seconds, path = worst(definition["StartAt"])
    return seconds, list(path)


def test_throttles_are_retried_for_minutes_with_capped_backoff_and_full_jitter(synth: Synth) -> None:
    for name in ("checkout", "fulfil"):
        definition = deployed(synth, name)
        tasks = {n: s for n, s in definition["States"].items() if s.get("Resource", "").endswith("lambda:invoke")}
        assert tasks, name
        for task_name, task in tasks.items():
            throttle = next(r for r in task["Retry"] if THROTTLE in r["ErrorEquals"])
            assert set(workflows.THROTTLE_ERRORS) <= set(throttle["ErrorEquals"]), task_name
            assert throttle["JitterStrategy"] == "FULL" and throttle["MaxDelaySeconds"] == 20, task_name
            assert throttle["MaxAttempts"] >= 6, task_name
            assert retrier_wait_s(throttle) >= 50, (task_name, retrier_wait_s(throttle))
            timeout = next(r for r in task["Retry"] if "States.Timeout" in r["ErrorEquals"])
            assert task["TimeoutSeconds"] == workflows.TASK_TIMEOUT_S and timeout["MaxAttempts"] == 1
            # after the retries: back to the queue for a throttle or timeout, FAILED/parked only for the rest
            assert task["Catch"][0]["ErrorEquals"] == (
                workflows.TRANSIENT_LAMBDA_ERRORS + workflows.NOT_CONFIGURED_ERRORS
            ), task_name
            assert task["Catch"][0]["Next"] == "Throttled" and task["Catch"][-1]["ErrorEquals"] == ["States.ALL"]
        # a checkout step alone rides out 91 s of throttling; the whole workflow minutes
        if name == "checkout":
            assert retrier_wait_s(next(r for r in tasks["Risk"]["Retry"] if THROTTLE in r["ErrorEquals"])) == 91


def test_the_longest_path_of_each_workflow_fits_in_an_express_execution(synth: Synth) -> None:
    worst = {name: longest_path_s(deployed(synth, name)) for name in ("checkout", "fulfil")}
    # The figures written in infra/workflows.py's comments.
    assert worst["checkout"][0] == 248, worst["checkout"]
    assert worst["fulfil"][0] == 275, worst["fulfil"]
    for name, (seconds, path) in worst.items():
        assert seconds < EXPRESS_LIMIT_S, (name, seconds, path)
        assert "Throttled" in path  # the worst case ends in a requeue, not in a timeout of the execution


def test_requeue_sends_to_the_workflows_queue_with_a_minutes_long_delay_then_to_its_dlq(synth: Synth) -> None:
    for name, queue in (("checkout", "intake"), ("fulfil", "paid")):
        states = deployed(synth, name)["States"]
        prefix = queue.title()
        queue_key, dlq_key = queue_url_placeholders(queue)
        send = states[f"{prefix}Requeue"]
        assert send["Resource"] == "arn:aws:states:::sqs:sendMessage"
        assert send["Parameters"]["QueueUrl"] == f"<{queue_key}>"
        assert send["Parameters"]["DelaySeconds"] == workflows.REQUEUE_DELAY_S == 120
        assert states[f"{prefix}ToDlq"]["Parameters"]["QueueUrl"] == f"<{dlq_key}>"
        choice = states[f"{prefix}RequeueOrPark"]["Choices"][0]
        assert choice["NumericGreaterThan"] == workflows.MAX_REQUEUES and choice["Next"] == f"{prefix}ToDlq"
        # the substitutions point at the deployed queue and DLQ
        machine = synth.stack.state_machines[name]
        subs = synth.raw["Resources"][synth.logical_id(machine)]["Properties"]["DefinitionSubstitutions"]
        assert subs[queue_key] == {"Ref": synth.logical_id(synth.stack.queues[queue])}
        assert subs[dlq_key] == {"Ref": synth.logical_id(synth.stack.dlqs[queue])}


def test_workflow_role_may_send_to_its_queue_and_dlq(synth: Synth) -> None:
    policies = synth.resources("AWS::IAM::Policy")
    for name, queue in (("checkout", "intake"), ("fulfil", "paid")):
        role = synth.logical_id(synth.stack.state_machines[name].role)
        statements = [st for p in policies.values() if {"Ref": role} in p["Properties"]["Roles"]
                      for st in p["Properties"]["PolicyDocument"]["Statement"]]
        send = [st for st in statements if "sqs:SendMessage" in json.dumps(st["Action"])]
        targets = json.dumps([st["Resource"] for st in send])
        assert synth.logical_id(synth.stack.queues[queue]) in targets, name
        assert synth.logical_id(synth.stack.dlqs[queue]) in targets, name


def test_local_timings_keep_the_structure_and_shorten_only_the_waits() -> None:
    for build in (workflows.checkout, workflows.fulfil):
        real, fast = build(), workflows.local_timings(build())
        assert real.keys() == fast.keys() and real["States"].keys() == fast["States"].keys()
        for name, state in real["States"].items():
            local = fast["States"][name]
            assert local.get("Catch") == state.get("Catch") and local.get("Next") == state.get("Next")
            for r_real, r_fast in zip(state.get("Retry", []), local.get("Retry", []), strict=True):
                assert r_fast["ErrorEquals"] == r_real["ErrorEquals"]
                assert r_fast["MaxAttempts"] == r_real["MaxAttempts"]
        def waits(definition: dict[str, Any]) -> float:
            return sum(retrier_wait_s(r) for st in definition["States"].values() for r in st.get("Retry", []))

        assert waits(fast) < waits(real) / 3  # seconds locally, minutes in AWS
