"""One synthesis per session: the CDK app is slow to build (seconds), the assertions are cheap."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

import infra.declaration as declaration_module
from infra.app import build_app
from infra.constructs.common import logical_id
from infra.declaration import Declaration, Function, Route, Schedule, Secret
from infra.stack import Order24Stack

# No Docker, no downloads: skip bundling, ship only shared/ in the layer, stub code folders not written yet.
TEST_CONTEXT: dict[str, Any] = {
    "aws:cdk:bundling-stacks": [],
    "order24:layer": "shared-only",
    "order24:allow-missing-code": True,
}


@dataclass(frozen=True)
class Synth:
    declaration: Declaration
    stack: Order24Stack
    template: Template
    raw: dict[str, Any]  # the template as JSON, for walking references
    report: dict[str, Any]  # cdk-nag's policy validation report

    def logical_id(self, construct: Any) -> str:
        return logical_id(construct)

    def resources(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.raw["Resources"].items() if v["Type"] == cfn_type}


_CACHE: dict[str, Synth | BaseException] = {}


def cached(key: str, build: Callable[[], Synth]) -> Synth:
    """Synthesize once per session even when synth fails (pytest would retry a failing fixture per test)."""
    if key not in _CACHE:
        try:
            _CACHE[key] = build()
        except Exception as exc:  # keep the nag report / error for every dependent test
            _CACHE[key] = exc
    result = _CACHE[key]
    if isinstance(result, BaseException):
        raise result
    return result


def synthesize(decl: Declaration, outdir: Path) -> Synth:
    # cdk-nag runs inside synth and raises on any unacknowledged finding.
    app, stack = build_app(context=TEST_CONTEXT, outdir=str(outdir), declaration=decl, nag=True)
    assembly = app.synth()
    raw = assembly.get_stack_artifact(stack.artifact_id).template
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return Synth(decl, stack, Template.from_json(raw), raw, report)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stack exactly as the project declares it (read at run time, so it follows the declaration)."""
    return cached(
        "project", lambda: synthesize(declaration_module.DECLARATION, tmp_path_factory.mktemp("cdk-out"))
    )


def extended(decl: Declaration) -> Declaration:
    """The declaration plus one of everything it may not have yet: the loops must handle them."""
    extra = Function(
        "zz_extra",
        "test-only: exercises every grant kind",
        tracing=True,
        reserved_concurrency=7,
        grants=(
            "table:read",
            f"topic:{decl.topics[0].name}:publish" if decl.topics else "table:write",
            "secret:zz_provider:read",
            "param:zz_flags:read",
        ),
    )
    return dataclasses.replace(
        decl,
        functions=(*decl.functions, extra),
        secrets=(*decl.secrets, Secret("zz_provider", "ZZ_PROVIDER_SECRET_ARN", "test-only secret")),
        schedules=(*decl.schedules, Schedule("zz_tick", "zz_extra", every_seconds=90)),
        local_only_routes=(
            *decl.local_only_routes,
            Route("POST", "/zz/local-only", "zz_extra", auth="public"),
        ),
    )


@pytest.fixture(scope="session")
def synth_extended(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return cached(
        "extended",
        lambda: synthesize(
            extended(declaration_module.DECLARATION), tmp_path_factory.mktemp("cdk-out-extended")
        ),
    )
