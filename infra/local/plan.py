"""Moved to `infra/plan.py` (the CDK constructs read it too, and infra/constructs never imports infra.local);
re-exported here for the local runtime's modules and the tests."""

from infra.plan import (
    definition_template,
    dlq_name,
    queue_plan,
    route_table,
    state_machine_definitions,
    substitute,
    substitution_keys,
)

__all__ = ["definition_template", "dlq_name", "queue_plan", "route_table", "state_machine_definitions",
           "substitute", "substitution_keys"]
