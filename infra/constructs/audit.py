"""checkov, the second judge of the template: the findings we accept, in ONE table, each with its reason.

cdk-nag runs inside synth (infra/app.py); checkov reads the synthesized template afterwards (`make audit`).
Every finding is either fixed in the constructs or accepted here. An accepted finding becomes resource
metadata (`Metadata: checkov: skip: [{id, comment}]`), so the reason travels with the template, and
`python -m infra.constructs.audit` proves each one still applies (checkov on a copy without the skips fails
exactly there) and that nothing else fails.

Kinds name what a resource is for; a construct marks its resources with `accept(resource, *kinds)`.
The budgets behind the reasons: docs/capacity.md and ../shared/handbook/architecture.md (150,000 orders/s).
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.declaration import Declaration

if TYPE_CHECKING:  # the runner below needs no CDK (and no jsii/node start-up)
    from constructs import IConstruct

VPC = "CKV_AWS_117"
ENV_KMS = "CKV_AWS_173"
RESERVED_CONCURRENCY = "CKV_AWS_115"
LAMBDA_DLQ = "CKV_AWS_116"
LOG_KMS = "CKV_AWS_158"
SQS_KMS = "CKV_AWS_27"
SECRET_KMS = "CKV_AWS_149"

_NO_CAP = "reserved concurrency would cap peak throughput and carve concurrency out of the account pool"

# kind -> {checkov id: why we accept it}. One line each; the reason is what a reviewer needs to agree.
ACCEPTED: dict[str, dict[str, str]] = {
    "function": {
        VPC: "Reaches only AWS APIs (DynamoDB, SQS, Step Functions, Secrets Manager) over TLS with IAM; a VPC "
        "adds NAT/endpoint cost per GB and ENI scaling limits at 150k orders/s and protects nothing here.",
        ENV_KMS: "Environment holds only resource names/ARNs and Powertools settings (secrets live in Secrets "
        "Manager); Lambda already encrypts it at rest with an AWS-managed key, a CMK adds a KMS call per cold start.",
    },
    "function:route": {
        RESERVED_CONCURRENCY: f"API route: the stage throttle bounds it (infra/constructs/api.py); {_NO_CAP}.",
        LAMBDA_DLQ: "Invoked synchronously by API Gateway: the caller gets the error; a DLQ only catches "
        "asynchronous invocations.",
    },
    "function:queue": {
        RESERVED_CONCURRENCY: "SQS consumer: the event-source mapping's MaximumConcurrency bounds it without "
        f"throttling (messages wait in the queue); {_NO_CAP} and push messages toward the DLQ.",
        LAMBDA_DLQ: "Invoked synchronously by its SQS event-source mapping: a failed message returns to the "
        "queue and, after maxReceiveCount, lands in the queue's alarmed DLQ.",
    },
    "function:workflow": {
        RESERVED_CONCURRENCY: "Workflow step: bounded by the Express executions the queue consumers start; "
        f"{_NO_CAP} and throttle steps mid-execution.",
        LAMBDA_DLQ: "Invoked synchronously by Step Functions (lambda:invoke), whose Retry/Catch handle failures; "
        "a DLQ only catches asynchronous invocations.",
    },
    "function:stream": {
        RESERVED_CONCURRENCY: "Stream consumer: concurrency is one batch per table stream shard, bounded by "
        f"the shards; {_NO_CAP}.",
        LAMBDA_DLQ: "Invoked synchronously by its stream mapping, whose OnFailure destination (an alarmed SQS "
        "queue) is the dead-letter path.",
    },
    "function:schedule": {
        # LAMBDA_DLQ is fixed instead: EventBridge invokes asynchronously, so these functions get an alarmed DLQ.
        RESERVED_CONCURRENCY: "Scheduled by EventBridge once per rate period: its concurrency stays small by "
        "construction, and a cap would only turn an overlapping run into a throttled, retried one.",
    },
    "log_group": {
        LOG_KMS: "CloudWatch Logs encrypts at rest with its own keys; a CMK bills KMS requests on log ingestion "
        "at peak volume and stops logging if the key is disabled. Logs carry no secrets or PII (style rule).",
    },
    "queue": {
        SQS_KMS: "Encrypted at rest with SQS-managed SSE (SqsManagedSseEnabled), which checkov does not "
        "recognise; KMS would add KMS requests and the KMS request quota to the 150k orders/s hot path.",
    },
    "dead_letter_queue": {
        SQS_KMS: "Encrypted at rest with SQS-managed SSE (SqsManagedSseEnabled), which checkov does not "
        "recognise; a DLQ takes whatever its source sheds in a peak-time incident, so it must not hit KMS quotas.",
    },
    "secret": {
        SECRET_KMS: "Encrypted with the AWS-managed aws/secretsmanager key; one account reads it, values are "
        "cached per container, so a CMK would add a key and grants to manage for no access we need to control.",
    },
}

# What checkov tests, restated on the template's resource: True while the finding still applies, so a
# suppression whose finding was fixed (a stale one) fails tests/infra/test_constructs.py.
STILL_APPLIES: dict[str, Callable[[dict[str, Any]], bool]] = {
    VPC: lambda props: "VpcConfig" not in props,
    ENV_KMS: lambda props: bool(props.get("Environment", {}).get("Variables")) and "KmsKeyArn" not in props,
    RESERVED_CONCURRENCY: lambda props: "ReservedConcurrentExecutions" not in props,
    LAMBDA_DLQ: lambda props: "TargetArn" not in props.get("DeadLetterConfig", {}),
    LOG_KMS: lambda props: "KmsKeyId" not in props,
    SQS_KMS: lambda props: "KmsMasterKeyId" not in props,
    SECRET_KMS: lambda props: "KmsKeyId" not in props,
}


def function_kinds(decl: Declaration, name: str) -> tuple[str, ...]:
    """The kinds of a declared function: "function" plus one per way it is invoked."""
    kinds = ["function"]
    if any(r.function == name for r in decl.routes):
        kinds.append("function:route")
    if any(q.consumer == name for q in decl.queues):
        kinds.append("function:queue")
    if any(name in w.functions for w in decl.workflows):
        kinds.append("function:workflow")
    if any(c.function == name for c in decl.stream_consumers):
        kinds.append("function:stream")
    if is_scheduled(decl, name):
        kinds.append("function:schedule")
    return tuple(kinds)


def is_scheduled(decl: Declaration, name: str) -> bool:
    """EventBridge invokes it asynchronously: it needs a dead-letter queue of its own."""
    return any(s.function == name for s in decl.schedules)


def accept(construct: IConstruct, *kinds: str, unless: Iterable[str] = ()) -> None:
    """Mark `construct`'s CloudFormation resource with the accepted checkov findings of `kinds`.

    `unless` drops ids the resource satisfies after all (a function with reserved concurrency, a DLQ).
    Several kinds accepting the same id join their reasons: each way of invoking a function must hold.
    """
    from aws_cdk import CfnResource

    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to annotate")
    dropped = set(unless)
    reasons: dict[str, list[str]] = {}
    existing = resource.get_metadata("checkov") or {}
    for entry in existing.get("skip", []):
        reasons.setdefault(entry["id"], []).append(entry["comment"])
    for kind in kinds:
        for check, reason in ACCEPTED[kind].items():
            if check not in dropped and reason not in reasons.get(check, []):
                reasons.setdefault(check, []).append(reason)
    if reasons:
        skips = [{"id": check, "comment": " | ".join(texts)} for check, texts in sorted(reasons.items())]
        resource.add_metadata("checkov", {"skip": skips})


def skips_of(template: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """(logical id, checkov id) -> comment, for every suppression in a synthesized template."""
    return {
        (logical_id, skip["id"]): skip["comment"]
        for logical_id, resource in template.get("Resources", {}).items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }


# ---------------------------------------------------------------- the runner behind `make audit`
def _checkov(checkov: str, template: Path) -> dict[str, Any]:
    """checkov's JSON report on one template, offline (--skip-download: no calls to the vendor's API)."""
    run = subprocess.run(
        [checkov, "-f", str(template), "--framework", "cloudformation", "--skip-download", "--quiet",
         "--compact", "-o", "json"],
        capture_output=True, text=True, check=False,
    )
    if run.returncode not in (0, 1) or not run.stdout.strip():
        raise RuntimeError(f"checkov failed ({run.returncode}): {run.stderr[-2000:]}")
    report = json.loads(run.stdout)
    result: dict[str, Any] = report[0] if isinstance(report, list) else report
    return result


def _failed(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["resource"].split(".", 1)[1], f["check_id"]) for f in report["results"]["failed_checks"]}


def audit(checkov: str, template_path: Path) -> int:
    """Run checkov on the template as synthesized and on a copy without our suppressions; 0 when clean."""
    template = json.loads(template_path.read_text())
    with_skips = _checkov(checkov, template_path)
    bare = copy.deepcopy(template)
    for resource in bare.get("Resources", {}).values():
        resource.get("Metadata", {}).pop("checkov", None)
    with tempfile.TemporaryDirectory() as tmp:
        bare_path = Path(tmp) / template_path.name
        bare_path.write_text(json.dumps(bare))
        without_skips = _checkov(checkov, bare_path)
    summary, raw = with_skips["summary"], without_skips["summary"]
    print(f"checkov {summary.get('checkov_version', '?')} on {template_path}:")
    print(f"  without our suppressions: passed {raw['passed']}, failed {raw['failed']}, skipped {raw['skipped']}")
    print(f"  as synthesized:           passed {summary['passed']}, failed {summary['failed']}, "
          f"skipped {summary['skipped']}")
    problems: list[str] = []
    for f in with_skips["results"]["failed_checks"]:
        problems.append(f"unexplained: {f['check_id']} {f['check_name']} on {f['resource']}")
    stale = set(skips_of(template)) - _failed(without_skips)
    problems += [f"stale suppression: {check} on {logical_id} no longer fails" for logical_id, check in sorted(stale)]
    for line in problems:
        print("  " + line)
    if problems:
        print("Fix the construct, or accept the finding with its reason in infra/constructs/audit.py.")
        return 1
    print("  every finding is fixed or explained (infra/constructs/audit.py)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--checkov", default=".venv-audit/bin/checkov", help="the checkov executable")
    parser.add_argument("template", nargs="?", default="cdk.out/Order24.template.json", type=Path)
    args = parser.parse_args(argv)
    return audit(args.checkov, args.template)


if __name__ == "__main__":
    sys.exit(main())
