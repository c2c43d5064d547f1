"""What the declaration means, as plain data: shared by the local runtime and the CDK drift tests.

Everything here is a pure function of `infra.declaration.Declaration`, so the local runtime and
`tests/infra/test_declaration_matches_template.py` read the same answers that `infra/stack.py` deploys.
"""

from __future__ import annotations

import json
import re
from typing import Any

from infra.declaration import Declaration, function_arn_placeholder, queue_url_placeholders

# ${Name} as CloudFormation DefinitionSubstitutions writes it (letters, digits, underscore).
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def route_table(decl: Declaration) -> dict[str, str]:
    """ "METHOD /path" -> function name, for the routes deployed to API Gateway (never local-only ones)."""
    table: dict[str, str] = {}
    for route in decl.routes:
        if route.route_key in table:
            raise ValueError(f"route {route.route_key} is declared twice")
        table[route.route_key] = route.function
    return table


def dlq_name(queue_name: str) -> str:
    """The logical name of a queue's dead-letter queue."""
    return f"{queue_name}-dlq"


def queue_plan(decl: Declaration) -> dict[str, dict[str, Any]]:
    """Queue name -> how it is consumed and when a message gives up and lands in the DLQ."""
    return {
        q.name: {
            "consumer": q.consumer,
            "batch_size": q.batch_size,
            "max_batching_window_s": q.max_batching_window_s,
            "max_receive_count": q.max_receive_count,
            "visibility_timeout_s": q.visibility_timeout_s,
            "max_concurrency": q.max_concurrency,
            "dlq_name": dlq_name(q.name),
        }
        for q in decl.queues
    }


def substitution_keys(decl: Declaration) -> set[str]:
    """Every ${Key} the deployment provides to the state machines: the table, each function's ARN and each
    queue's (and its DLQ's) URL."""
    return ({"TableName"} | {function_arn_placeholder(f.name) for f in decl.functions}
            | {key for q in decl.queues for key in queue_url_placeholders(q.name)})


def substitute(text: str, substitutions: dict[str, str]) -> str:
    """Replace every ${Key} in `text`; an unknown key raises instead of deploying a broken ARN."""

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in substitutions:
            raise KeyError(f"no substitution for ${{{key}}}")
        return substitutions[key]

    return _PLACEHOLDER.sub(replace, text)


def definition_template(decl: Declaration, workflow: str) -> str:
    """The ASL text with placeholders, exactly as CDK puts it into DefinitionString."""
    return json.dumps(decl.workflow(workflow).definition())


def state_machine_definitions(decl: Declaration, substitutions: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Workflow name -> its ASL with every ${Key} replaced (in the JSON text, as CloudFormation does)."""
    result: dict[str, dict[str, Any]] = {}
    for wf in decl.workflows:
        result[wf.name] = json.loads(substitute(definition_template(decl, wf.name), substitutions))
    return result
