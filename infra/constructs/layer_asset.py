"""Which code the shared Lambda layer ships: the pip-built `build/layer`, or only `shared/`.

See `infra/layer.py` for the context key `order24:layer` (built | shared-only | auto).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra import layer

LAYER_MODES = ("built", "shared-only", "auto")


@jsii.implements(ILocalBundling)
class _CopyShared:
    """Local 'bundling' that copies shared/ (less the sandbox, `layer.layer_files`) to
    <asset>/python/shared: no Docker, nothing downloaded."""

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: Any) -> bool:
        layer.copy_shared(Path(output_dir) / "python" / "shared")
        return True


def layer_code(mode: str) -> tuple[lambda_.Code, str]:
    """The layer's code for `mode`, and a one-line description of what it holds."""
    if mode not in LAYER_MODES:
        raise ValueError(f"order24:layer must be one of {LAYER_MODES}, not {mode!r}")
    fresh, why = layer.built_layer_is_fresh()
    if mode == "built" and not fresh:
        raise RuntimeError(f"order24:layer=built but {why}")
    if mode == "built" or (mode == "auto" and fresh):
        return lambda_.Code.from_asset(str(layer.BUILD_DIR), exclude=[layer.MANIFEST.name]), "built"
    if mode == "auto":
        print(f"order24: using the shared-only layer (no third-party packages): {why}", file=sys.stderr)
    code = lambda_.Code.from_asset(
        str(layer.SHARED_SRC),
        bundling=BundlingOptions(
            # Never pulled: local bundling always succeeds. CDK requires an image to be named.
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"),
            local=_CopyShared(),
        ),
    )
    return code, "shared-only"
