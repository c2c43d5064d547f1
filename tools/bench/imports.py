"""Cold import time of every function's handler, as a ratio to a bare `import boto3` in the same run.

    python -m tools.bench.imports [--repeats 7] [--json out.json]

Each sample is a fresh interpreter (what a Lambda cold start pays for init). Every handler sample is paired
with a boto3 sample taken just before it, so machine load affects both alike; the ratio is the median of the
per-pair ratios, with its min-max over the repeats. Our own modules are compiled from source in every
sample (PYTHONDONTWRITEBYTECODE=1, as the Makefile sets), site-packages load from their .pyc files.

`-X importtime` then attributes each function's import to groups (boto3/botocore, pydantic, Powertools
logging and metrics, the Powertools event handler, our code, ...) so the doc can say what each costs.
Prints `import_ratio <function>=<ratio>` per function.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from infra.declaration import DECLARATION as DECLARATION

ROOT = Path(__file__).resolve().parents[2]
TIMED = "import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"

# Groups of modules for the breakdown, first match wins (prefixes of the dotted module name).
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("boto3/botocore", ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil")),
    ("x-ray sdk", ("aws_xray_sdk",)),
    ("pydantic", ("pydantic", "pydantic_core", "annotated_types", "typing_inspection")),
    ("powertools event_handler", ("aws_lambda_powertools.event_handler",
                                  "aws_lambda_powertools.utilities.data_classes")),
    ("powertools logging+metrics", ("aws_lambda_powertools.logging", "aws_lambda_powertools.metrics",
                                    "aws_lambda_powertools.shared", "aws_lambda_powertools.package_logger",
                                    "aws_lambda_powertools.warnings", "aws_lambda_powertools")),
    ("powertools other", ("aws_lambda_powertools.",)),
    ("our code", ("shared", "functions")),
)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "POWERTOOLS_SERVICE_NAME": "order24",
            "AWS_DEFAULT_REGION": "us-east-1"}


def timed(statement: str) -> float:
    """Milliseconds one statement takes in a fresh interpreter (a cold start's imports)."""
    reply = subprocess.run([sys.executable, "-c", TIMED.format(statement=statement)], cwd=ROOT, env=_env(),
                           capture_output=True, text=True, check=True)
    return float(reply.stdout.strip()) * 1000


def sample(module: str) -> float:
    return timed(f"import {module}")


def group_of(module: str) -> str:
    for group, prefixes in GROUPS:
        if any(module == p or module.startswith(p if p.endswith(".") else p + ".") for p in prefixes):
            return group
    return "stdlib and other"


def breakdown(module: str) -> dict[str, Any]:
    """Self time per group (ms) from one `-X importtime` run, and the heaviest single modules."""
    reply = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], cwd=ROOT,
                           env=_env(), capture_output=True, text=True, check=True)
    groups: Counter[str] = Counter()  # microseconds
    modules: list[tuple[str, float]] = []
    loaded = set()
    for line in reply.stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        self_us, _cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
        if not self_us.isdigit():
            continue  # the header line
        groups[group_of(name)] += int(self_us)
        modules.append((name, int(self_us) / 1000))
        loaded.add(name.split(".")[0])
    return {"groups_ms": {k: round(v / 1000, 1) for k, v in groups.most_common()},
            "heaviest_self_ms": [(n, round(ms, 1)) for n, ms in sorted(modules, key=lambda r: -r[1])[:5]],
            "boto3_loaded": "boto3" in loaded, "xray_loaded": "aws_xray_sdk" in loaded}


def run(repeats: int) -> dict[str, Any]:
    functions = [f.name for f in DECLARATION.functions]
    boto3_ms: list[float] = []
    handler_ms: dict[str, list[float]] = {name: [] for name in functions}
    ratios: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name in functions:
            base = sample("boto3")
            value = sample(f"functions.{name}.handler")
            boto3_ms.append(base)
            handler_ms[name].append(value)
            ratios[name].append(value / base)
    results = {}
    for name in functions:
        values = handler_ms[name]
        results[name] = {"median_ms": round(statistics.median(values), 1), "min_ms": round(min(values), 1),
                         "max_ms": round(max(values), 1), "ratio": round(statistics.median(ratios[name]), 2),
                         "ratio_min": round(min(ratios[name]), 2), "ratio_max": round(max(ratios[name]), 2),
                         "breakdown": breakdown(f"functions.{name}.handler")}
    return {"boto3_median_ms": round(statistics.median(boto3_ms), 1), "boto3_min_ms": round(min(boto3_ms), 1),
            "boto3_max_ms": round(max(boto3_ms), 1), "boto3_samples": len(boto3_ms), "repeats": repeats,
            "boto3_breakdown": breakdown("boto3"), "functions": results}


def lines(results: dict[str, Any]) -> list[str]:
    out = [f"boto3 import: median {results['boto3_median_ms']} ms (min {results['boto3_min_ms']}, "
           f"max {results['boto3_max_ms']}, n={results['boto3_samples']})"]
    out += [f"import_ratio {name}={row['ratio']}" for name, row in results["functions"].items()]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = run(args.repeats)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print("\n".join(lines(results)))


if __name__ == "__main__":
    main()
