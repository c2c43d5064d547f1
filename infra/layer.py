"""The dependency layer for the Lambda platform (arm64, CPython 3.12), built with pip and no Docker.

`python -m infra.layer` (run by `make deploy`) installs the runtime `dependencies` of pyproject.toml for
manylinux2014_aarch64/cp312 into `build/layer/python`, copies the repo's `shared/` package next to them
(less `shared/sandbox`: see `layer_files`) and writes `build/layer/order24-layer.json` (what went in).
The stack picks the layer asset with `layer_asset()`, steered by the context key `order24:layer`:

* `built`       - `build/layer` must exist and match today's pyproject and shared/, or synth fails
                  (cdk.json sets this, so `cdk deploy` never ships a stale or partial layer);
* `shared-only` - a layer holding only `shared/` (tests, offline synth: nothing is downloaded);
* `auto`        - the default without context (`make synth`): `built` when a fresh build exists,
                  otherwise `shared-only`, and it says which on stderr.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO / "build" / "layer"
MANIFEST = BUILD_DIR / "order24-layer.json"
SHARED_SRC = REPO / "shared"

PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.12"
# Published as sdist only, so no wheel exists for the Lambda platform: build a pure wheel first.
SDIST_ONLY = ("jieba",)
# Python bytecode and caches are rebuilt by the runtime; shipping them only grows the layer.
_CACHES = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".mypy_cache", ".pytest_cache")
# Packages of shared/ that are never deployed: the sandbox providers (local runtime and tests only), so a
# deployed function cannot use them even with the switch on (shared/core/config.py sandbox_providers).
EXCLUDED_PACKAGES = ("sandbox",)


def _ignore(root: Path) -> Callable[[str, list[str]], set[str]]:
    """A copytree `ignore` for shared/ at `root`: caches anywhere, EXCLUDED_PACKAGES at the top."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        ignored = set(_CACHES(directory, names))
        if Path(directory).resolve() == root.resolve():
            ignored |= set(EXCLUDED_PACKAGES) & set(names)
        return ignored

    return ignore


def layer_files(root: Path = SHARED_SRC) -> list[str]:
    """What of shared/ goes into the layer, as sorted paths relative to `root` (the rule `copy_shared`
    copies by, so a test can check it without building anything)."""
    ignore = _ignore(root)
    found: list[str] = []
    for directory, dirs, files in os.walk(root):
        skipped = ignore(directory, [*dirs, *files])
        dirs[:] = sorted(d for d in dirs if d not in skipped)
        found += [(Path(directory) / f).relative_to(root).as_posix() for f in files if f not in skipped]
    return sorted(found)


def copy_shared(dest: Path, root: Path = SHARED_SRC) -> None:
    """Copy shared/ into the layer at `dest` (e.g. <layer>/python/shared), by `layer_files`' rule."""
    shutil.copytree(root, dest, ignore=_ignore(root))


def runtime_dependencies(pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """The [project] dependencies: what the layer ships (boto3 comes with the Lambda runtime)."""
    with pyproject.open("rb") as fh:
        return list(tomllib.load(fh)["project"]["dependencies"])


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9_.\-]+", requirement)
    if not match:
        raise ValueError(f"cannot read a package name from {requirement!r}")
    return match.group(0).lower().replace("_", "-")


def shared_fingerprint(root: Path = SHARED_SRC) -> str:
    """A hash of the layer's shared/ files, so a layer built before an edit is recognised as stale."""
    digest = hashlib.sha256()
    for relative in layer_files(root):
        digest.update(relative.encode())
        digest.update((root / relative).read_bytes())
    return digest.hexdigest()


def _pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)


def build(out: Path = BUILD_DIR) -> Path:
    """Install the runtime dependencies for the Lambda platform into out/python, then shared/."""
    deps = runtime_dependencies()
    if out.exists():
        shutil.rmtree(out)
    target = out / "python"
    target.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="order24-wheels-") as wheels:
        sdist_only = [d for d in deps if _requirement_name(d) in SDIST_ONLY]
        if sdist_only:
            _pip("wheel", "--no-deps", "--wheel-dir", wheels, *sdist_only)
        _pip(
            "install",
            "--platform", PLATFORM,
            "--implementation", "cp",
            "--python-version", PYTHON_VERSION,
            "--only-binary=:all:",
            "--no-compile",
            "--find-links", wheels,
            "--target", str(target),
            *deps,
        )  # fmt: skip
    copy_shared(target / "shared")
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST.name).write_text(
        json.dumps({"dependencies": deps, "shared": shared_fingerprint(), "platform": PLATFORM}, indent=2)
    )
    return out


def built_layer_is_fresh(out: Path = BUILD_DIR) -> tuple[bool, str]:
    """Whether out/ holds a complete build of today's dependencies and shared/, and if not, why."""
    manifest = out / MANIFEST.name
    if not manifest.is_file():
        return False, f"{out} has not been built (run `python -m infra.layer`)"
    recorded = json.loads(manifest.read_text())
    if recorded.get("dependencies") != runtime_dependencies():
        return False, "pyproject.toml dependencies changed since the layer was built"
    if recorded.get("shared") != shared_fingerprint():
        return False, "shared/ changed since the layer was built"
    return True, "fresh"


def main() -> None:
    out = build()
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"layer built in {out} ({size / 1e6:.1f} MB unzipped)", file=sys.stderr)


if __name__ == "__main__":
    main()
