"""The CDK app: `python -m infra.app` synthesizes offline (no Docker, no CDK CLI) into cdk.out/.

The CDK CLI runs the same module (cdk.json) and passes its context and output dir through the
environment; without the CLI, context can be given as JSON in CDK_CONTEXT_JSON.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from infra.declaration import DECLARATION, Declaration
from infra.stack import Order24Stack

STACK_NAME = "Order24"
CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def feature_flags() -> dict[str, Any]:
    """cdk.json's feature flags (@aws-cdk/...), applied on every path: CLI, `make synth` and tests.

    Without this, only the CDK CLI would read them and the tests would check a different template
    from the one that deploys. Project keys (order24:...) stay with whoever runs the app.
    """
    context = json.loads(CDK_JSON.read_text()).get("context", {})
    return {k: v for k, v in context.items() if k.startswith("@")}


def build_app(
    *,
    context: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    declaration: Declaration = DECLARATION,
    nag: bool = True,
) -> tuple[App, Order24Stack]:
    """The app with its one stack; cdk-nag's AwsSolutions pack runs at synth and fails it on a finding."""
    app = App(
        context={**feature_flags(), **(context or {})},
        outdir=outdir or os.environ.get("CDK_OUTDIR", "cdk.out"),
    )
    stack = Order24Stack(
        app,
        STACK_NAME,
        declaration=declaration,
        description="order24: serverless order platform (built from infra/declaration.py)",
        # Account and region come from the deploying profile: the same app deploys anywhere.
        env=Environment(
            account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
        ),
    )
    Tags.of(app).add("project", "order24")
    if nag:
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def main() -> None:
    started = time.perf_counter()
    app, stack = build_app()
    assembly = app.synth()
    print(
        f"synthesized {stack.stack_name} ({stack.layer_kind} layer) into {assembly.directory} "
        f"in {time.perf_counter() - started:.1f}s"
    )


if __name__ == "__main__":
    main()
