"""What CDK deploys equals what the local runtime runs: both read `infra.plan` and the declaration.

Any drift (a route wired to another function, a batch size, a DLQ threshold, a workflow definition)
fails here before it can make local and AWS behave differently.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import plan
from infra.constructs.compute import function_name
from infra.declaration import function_arn_placeholder
from tests.infra.conftest import Synth


def function_by_logical_id(s: Synth) -> dict[str, str]:
    return {s.logical_id(fn): name for name, fn in s.stack.functions.items()}


def sentinels(keys: set[str]) -> dict[str, str]:
    return {k: f"<<{k}>>" for k in keys}


def test_deployed_route_keys_are_exactly_the_route_table(synth: Synth) -> None:
    deployed = {r["Properties"]["RouteKey"] for r in synth.resources("AWS::ApiGatewayV2::Route").values()}
    assert deployed == set(plan.route_table(synth.declaration))


def test_each_route_integrates_with_the_function_the_route_table_names(synth: Synth) -> None:
    functions = function_by_logical_id(synth)
    integrations = synth.resources("AWS::ApiGatewayV2::Integration")
    table = plan.route_table(synth.declaration)
    for route in synth.resources("AWS::ApiGatewayV2::Route").values():
        props = route["Properties"]
        target = props["Target"]["Fn::Join"][1][1]["Ref"]  # "integrations/" + Ref(integration)
        integration = integrations[target]["Properties"]
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert integration["PayloadFormatVersion"] == "2.0"
        fn_id = integration["IntegrationUri"]["Fn::GetAtt"][0]
        assert functions[fn_id] == table[props["RouteKey"]], props["RouteKey"]


def test_local_only_routes_are_not_in_the_route_table(synth_extended: Synth) -> None:
    table = plan.route_table(synth_extended.declaration)
    deployed = {
        r["Properties"]["RouteKey"] for r in synth_extended.resources("AWS::ApiGatewayV2::Route").values()
    }
    for r in synth_extended.declaration.local_only_routes:
        assert r.route_key not in table
    assert deployed == set(table)


def test_queues_match_the_queue_plan(synth: Synth) -> None:
    functions = function_by_logical_id(synth)
    mappings = {
        m["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]: m["Properties"]
        for m in synth.resources("AWS::Lambda::EventSourceMapping").values()
    }
    queue_plan = plan.queue_plan(synth.declaration)
    assert set(queue_plan) == set(synth.stack.queues)
    for name, expected in queue_plan.items():
        queue_id = synth.logical_id(synth.stack.queues[name])
        queue = synth.raw["Resources"][queue_id]["Properties"]
        assert queue["RedrivePolicy"]["maxReceiveCount"] == expected["max_receive_count"]
        assert queue["VisibilityTimeout"] == expected["visibility_timeout_s"]
        assert queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0] == synth.logical_id(
            synth.stack.dlqs[name]
        )
        mapping = mappings[queue_id]
        assert functions[mapping["FunctionName"]["Ref"]] == expected["consumer"]
        assert mapping["BatchSize"] == expected["batch_size"]
        assert mapping.get("MaximumBatchingWindowInSeconds", 0) == expected["max_batching_window_s"]
        assert mapping["ScalingConfig"]["MaximumConcurrency"] == expected["max_concurrency"]


def test_state_machine_substitutions_are_the_declared_keys(synth: Synth) -> None:
    for name, machine in synth.stack.state_machines.items():
        props = synth.raw["Resources"][synth.logical_id(machine)]["Properties"]
        assert set(props["DefinitionSubstitutions"]) == plan.substitution_keys(synth.declaration), name


def test_state_machine_definitions_equal_the_local_ones(synth: Synth) -> None:
    # Substitute the same sentinel on both sides, so the comparison covers every byte of the ASL.
    values = sentinels(plan.substitution_keys(synth.declaration))
    local = plan.state_machine_definitions(synth.declaration, values)
    assert set(local) == set(synth.stack.state_machines)
    for name, machine in synth.stack.state_machines.items():
        props = synth.raw["Resources"][synth.logical_id(machine)]["Properties"]
        deployed = json.loads(
            plan.substitute(props["DefinitionString"], sentinels(set(props["DefinitionSubstitutions"])))
        )
        assert deployed == local[name], name


def test_substitution_values_point_at_the_table_and_the_named_functions(synth: Synth) -> None:
    table_ref = {"Ref": synth.logical_id(synth.stack.table)}
    for machine in synth.stack.state_machines.values():
        subs: dict[str, Any] = synth.raw["Resources"][synth.logical_id(machine)]["Properties"][
            "DefinitionSubstitutions"
        ]
        assert subs["TableName"] == table_ref
        for f in synth.declaration.functions:
            arn = json.dumps(subs[function_arn_placeholder(f.name)])
            assert f":function:{function_name(synth.stack, f.name)}" in arn, f.name
            # ...and that name is the deployed function's name.
            props = synth.raw["Resources"][synth.logical_id(synth.stack.functions[f.name])]["Properties"]
            assert props["FunctionName"] == function_name(synth.stack, f.name)


def test_unknown_placeholder_raises_instead_of_deploying_a_broken_definition(synth: Synth) -> None:
    values = sentinels(plan.substitution_keys(synth.declaration) - {"TableName"})
    if not any(
        "${TableName}" in plan.definition_template(synth.declaration, w.name)
        for w in synth.declaration.workflows
    ):
        pytest.skip("no workflow uses ${TableName} today")
    with pytest.raises(KeyError, match="TableName"):
        plan.state_machine_definitions(synth.declaration, values)


def test_each_function_gets_the_same_variables_in_aws_as_locally(synth: Synth) -> None:
    # The local runtime gives a function only these while it runs (infra/local/resources.function_environment).
    from infra.constructs.compute import POWERTOOLS_ENV
    from infra.declaration import function_environment
    from infra.local.resources import granted_variables
    from shared.core.config import Env

    for f in synth.declaration.functions:
        props = synth.raw["Resources"][synth.logical_id(synth.stack.functions[f.name])]["Properties"]
        deployed = props["Environment"]["Variables"]
        local = set(granted_variables(synth.declaration, f.name)) | set(function_environment(f.name))
        if any(g.startswith("appconfig:") for g in f.grants):  # no AppConfig locally: the flags file instead
            local |= {Env.APPCONFIG_APPLICATION, Env.APPCONFIG_ENVIRONMENT, Env.APPCONFIG_PROFILE}
        assert set(deployed) - set(POWERTOOLS_ENV) == local, f.name
        for name, value in function_environment(f.name).items():
            assert deployed[name] == value, f"{f.name}: {name}"


def test_the_production_declaration_holds_no_local_only_routes() -> None:
    from infra.declaration import DECLARATION
    from infra.local.sandbox_routes import LOCAL_DECLARATION, SANDBOX_ROUTES

    assert DECLARATION.local_only_routes == ()
    assert LOCAL_DECLARATION.local_only_routes == SANDBOX_ROUTES
    assert LOCAL_DECLARATION.routes == DECLARATION.routes


def test_the_stack_never_imports_the_local_runtime() -> None:
    import ast
    from pathlib import Path

    infra = Path(__file__).resolve().parents[2] / "infra"
    offenders = []
    for path in [infra / "stack.py", infra / "app.py", infra / "declaration.py", infra / "plan.py",
                 *sorted((infra / "constructs").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n == "infra.local" or n.startswith("infra.local.")]
    assert not offenders, f"infra/stack.py and infra/constructs must not import infra.local: {offenders}"
