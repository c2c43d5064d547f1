"""One declaration, read everywhere: a route, role, variable, tunable or grant declared in one place but used
in another fails here, with what to change.

Declarations: routes and roles in shared/api/declaration.py and shared/core/roles.py, variables (`Env`) and
tunables (`Settings` groups, one model per function) in shared/core/config.py, grants in infra/declaration.py.
Uses are read from the code (AST, see tests/unit/reach.py for what a function can reach).
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

from infra.declaration import DECLARATION
from infra.local.resources import DEMO_USERS, granted_variables
from shared.api.declaration import ROUTES, ROUTES_BY_OPERATION
from shared.core import config
from shared.core.config import FUNCTION_SETTINGS, Env, Settings
from shared.core.roles import ROLES, Role
from tests.unit import reach

ROOT = reach.ROOT
FUNCTIONS = [f.name for f in DECLARATION.functions]
# Platform variables, not declared per function: boto3 reads AWS_ENDPOINT_URL itself as well.
ENVIRON_ALLOWED = {"shared/core/config.py": "the one reader", "shared/core/aws.py": "AWS_ENDPOINT_URL (platform)"}
# Nodes a function reaches statically but never runs, each with why.
NEVER_RUNS: dict[str, dict[reach.Node, str]] = {
    # expire_many runs `_run_timer("EXPIRY", ...)` only; the other timers are the sweeper's.
    "expiry_worker": {("shared.orders.lifecycle", "TIMERS"): "expire_many runs the EXPIRY timer only"},
}


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def deployed_modules() -> dict[str, reach.Module]:
    """The code the layer and the function assets ship (shared/sandbox never is)."""
    return {name: mod for name, mod in reach.modules().items() if not name.startswith("shared.sandbox")}


def call_name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def env_reads(node: reach.Node) -> set[str]:
    """The variables a node names (`Env.X`, directly or through a constant assigned from it)."""
    found: set[str] = set()
    for stmt in reach.statements(node):
        for sub in ast.walk(stmt):
            if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == "Env":
                found.add(Env[sub.attr].value)
    return found


def settings_reads(node: reach.Node) -> set[str]:
    """The settings groups a node reads with `settings(Group)`."""
    found: set[str] = set()
    for stmt in reach.statements(node):
        for sub in ast.walk(stmt):
            if isinstance(sub, ast.Call) and call_name(sub) == "settings" and sub.args:
                arg = sub.args[0]
                found.add(arg.id if isinstance(arg, ast.Name) else ast.unparse(arg))
    return found


def grant_for(variable: str) -> str:
    """The grant text that gives `variable` (for the failure message)."""
    d = DECLARATION
    grants = {q.env_var: f"queue:{q.name}:send" for q in d.queues}
    grants |= {w.env_var: f"workflow:{w.name}:start" for w in d.workflows}
    grants |= {t.env_var: f"topic:{t.name}:publish" for t in d.topics}
    grants |= {s.env_var: f"secret:{s.name}:read" for s in d.secrets}
    grants[Env.PUBLIC_API_URL] = "a partner secret (secret:wechatpay:read, ...)"
    return grants.get(variable, f"a grant that sets {variable}")


# ---------------------------------------------------------------- variables and tunables


def test_no_deployed_module_reads_the_environment_but_through_shared_core_config() -> None:
    offenders = []
    for mod in deployed_modules().values():
        if rel(mod.path) in ENVIRON_ALLOWED:
            continue
        for sub in ast.walk(mod.tree):
            if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == "os" \
                    and sub.attr in ("environ", "getenv"):
                offenders.append(f"{rel(mod.path)}:{sub.lineno}")
    assert not offenders, (
        "read variables through shared.core.config: env(Env.X)/optional_env(Env.X) for a resource, "
        f"settings(Group).field for a tunable (declare it in shared/core/config.py): {offenders}")


def test_variables_are_named_by_env_members_never_by_strings() -> None:
    readers = {"env", "optional_env", "send", "start", "_load"}
    offenders = []
    for mod in deployed_modules().values():
        if rel(mod.path) == "shared/core/config.py":
            continue
        for sub in ast.walk(mod.tree):
            if isinstance(sub, ast.Call) and call_name(sub) in readers and sub.args \
                    and isinstance(sub.args[0], ast.Constant) and isinstance(sub.args[0].value, str) \
                    and sub.args[0].value.isupper():
                offenders.append(f"{rel(mod.path)}:{sub.lineno} {sub.args[0].value!r}")
    assert not offenders, f"name these variables by their Env member (shared/core/config.py): {offenders}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_resource_variable_a_function_can_read_is_granted_to_it(function: str) -> None:
    parents = reach.reach(function, skip=NEVER_RUNS.get(function, {}))
    granted = set(granted_variables(DECLARATION, function)) | {Env.FUNCTION.value}
    fn = DECLARATION.function(function)
    if any(g.startswith("appconfig:") for g in fn.grants):
        granted |= {Env.APPCONFIG_APPLICATION, Env.APPCONFIG_ENVIRONMENT, Env.APPCONFIG_PROFILE}
    missing = []
    for node in parents:
        if node[0] == "shared.core.config":
            continue  # the declaration itself
        for variable in sorted(env_reads(node) - granted):
            missing.append(f"{variable} (grant {grant_for(variable)}), read by {reach.path(parents, node)}")
    assert not missing, (
        f"function {function} can read variables it is not granted; add the grant to it in "
        f"infra/declaration.py (or, if that code never runs in {function}, list it in NEVER_RUNS here, with "
        "why):\n  " + "\n  ".join(missing))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_settings_group_a_function_can_read_is_in_its_settings_model(function: str) -> None:
    model = FUNCTION_SETTINGS.get(function)
    assert model is not None, f"add a settings model for {function} to FUNCTION_SETTINGS in shared/core/config.py"
    parents = reach.reach(function, skip=NEVER_RUNS.get(function, {}))
    missing = []
    for node in parents:
        for group in sorted(settings_reads(node)):
            declared = getattr(config, group, None)
            if not (isinstance(declared, type) and issubclass(model, declared)):
                missing.append(f"{group}, read by {reach.path(parents, node)}")
    assert not missing, (
        f"function {function} can read settings its model {model.__name__} does not include; add the group "
        "to the model in shared/core/config.py:\n  " + "\n  ".join(missing))


def test_each_declared_function_has_one_settings_model_and_each_model_a_function() -> None:
    assert set(FUNCTION_SETTINGS) == set(FUNCTIONS), (
        "FUNCTION_SETTINGS (shared/core/config.py) and FUNCTIONS (infra/declaration.py) name other functions")
    models = list(FUNCTION_SETTINGS.values())
    assert len(set(models)) == len(models), "two functions share a settings model: give each its own"


def test_each_tunable_is_declared_once_with_a_default() -> None:
    groups = [cls for cls in vars(config).values()
              if isinstance(cls, type) and issubclass(cls, Settings) and cls not in FUNCTION_SETTINGS.values()]
    own = Counter(
        field.alias for cls in groups for name, field in cls.model_fields.items()
        if field.alias and name in cls.__annotations__
    )
    assert [alias for alias, n in own.items() if n > 1] == [], "a tunable is declared in two Settings groups"
    for cls in groups:
        for name, field in cls.model_fields.items():
            assert field.alias and field.alias.isupper(), f"{cls.__name__}.{name}: alias it to its variable"
            assert not field.is_required(), f"{cls.__name__}.{name}: a tunable needs a default"


def test_settings_read_the_environment_and_validate_it() -> None:
    config.reset_settings()
    with config.function_environment(config.FunctionEnvironment(
            values={"ORDER24_FUNCTION": "sweeper", "SWEEP_THREADS": "7"}, hidden=frozenset())):
        assert config.settings(config.LifecycleSettings).sweep_threads == 7
        with pytest.raises(config.UndeclaredSettings, match="add RiskSettings to its model"):
            config.settings(config.RiskSettings)


def test_every_resource_variable_is_an_env_member_and_every_env_member_is_used() -> None:
    d = DECLARATION
    resource_vars = {d.table.env_var, *(q.env_var for q in d.queues), *(w.env_var for w in d.workflows),
                     *(t.env_var for t in d.topics), *(s.env_var for s in d.secrets)}
    members = {e.value for e in Env}
    assert resource_vars <= members, f"name these variables in Env (shared/core/config.py): {resource_vars - members}"
    platform = {Env.FUNCTION, Env.PUBLIC_API_URL, Env.APPCONFIG_APPLICATION, Env.APPCONFIG_ENVIRONMENT,
                Env.APPCONFIG_PROFILE}
    assert members - platform == resource_vars, (
        f"Env members no resource declares (remove them or declare the resource): {members - platform - resource_vars}")


# ---------------------------------------------------------------- roles


def test_roles_are_one_enum_used_by_routes_the_local_users_and_the_user_pool() -> None:
    from infra.constructs.auth import USER_GROUPS

    assert tuple(USER_GROUPS) == ROLES
    assert {role for _user, _password, role in DEMO_USERS} == set(Role)
    assert all(isinstance(role, Role) for r in ROUTES for role in r.roles)


def _route_handlers() -> dict[str, tuple[str, ast.FunctionDef]]:
    """operationId -> (file, the function `@route(router, "<operationId>")` decorates)."""
    found: dict[str, tuple[str, ast.FunctionDef]] = {}
    for mod in reach.modules().values():
        for stmt in mod.tree.body:
            if not isinstance(stmt, ast.FunctionDef):
                continue
            for decorator in stmt.decorator_list:
                if isinstance(decorator, ast.Call) and call_name(decorator) == "route" and len(decorator.args) >= 2:
                    operation = decorator.args[1]
                    assert isinstance(operation, ast.Constant), f"{rel(mod.path)}:{stmt.lineno}: a literal id"
                    assert operation.value not in found, f"operationId {operation.value} registered twice"
                    found[str(operation.value)] = (rel(mod.path), stmt)
    return found


def test_no_role_is_named_by_a_string() -> None:
    offenders = []
    for mod in deployed_modules().values():
        for sub in ast.walk(mod.tree):
            if isinstance(sub, ast.Call) and call_name(sub) in ("require_role", "require_roles", "has"):
                offenders += [f"{rel(mod.path)}:{sub.lineno} {a.value!r}" for a in sub.args
                              if isinstance(a, ast.Constant) and a.value in {r.value for r in Role}]
    assert not offenders, f"name roles by their Role member (shared/core/roles.py): {offenders}"


def test_each_handler_requires_exactly_the_roles_its_route_declares() -> None:
    wrong = []
    for operation, (file, handler) in _route_handlers().items():
        required = {
            Role[arg.attr] for sub in ast.walk(handler)
            if isinstance(sub, ast.Call) and call_name(sub) in ("require_role", "require_roles")
            for arg in sub.args[1:] if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name)
            and arg.value.id == "Role"
        }
        declared = set(ROUTES_BY_OPERATION[operation].roles)
        if operation == "placeOrder":  # the intake fast path checks it in shared/orders/intake.accept
            required |= declared & {Role.SHOPPER}
        if required != declared:
            wrong.append(f"{operation} ({file}): declares {sorted(declared)}, requires {sorted(required)}")
    assert not wrong, "make the route's roles (shared/api/declaration.py) and require_role agree:\n  " + \
        "\n  ".join(wrong)


# ---------------------------------------------------------------- routes


def test_every_declared_route_is_registered_once_through_route_and_nothing_else_is() -> None:
    handlers = _route_handlers()
    declared = {r.operation_id for r in ROUTES}
    assert set(handlers) == declared, (
        f"declared but no @route handler: {sorted(declared - set(handlers))}; "
        f"@route with an undeclared id: {sorted(set(handlers) - declared)}")
    raw = []
    for mod in reach.modules().values():
        for stmt in mod.tree.body:
            for decorator in getattr(stmt, "decorator_list", []):
                if isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute) \
                        and decorator.func.attr in ("get", "post", "put", "patch", "delete", "route"):
                    raw.append(f"{rel(mod.path)}:{decorator.lineno}")
    assert not raw, f"register routes with @route(router, '<operationId>') from shared/api/declaration.py: {raw}"


def test_each_route_handler_is_headed_by_its_declared_route_key_so_grep_finds_it() -> None:
    # `grep -rn "/orders/{order_id}"` finds the declaration and the handler: the line above each
    # `@route(router, "<operationId>")` is `# <METHOD> <path>`, checked here against the declaration.
    wrong = []
    for operation, (file, handler) in _route_handlers().items():
        lines = (ROOT / file).read_text().splitlines()
        first = min(d.lineno for d in handler.decorator_list)
        expected = f"# {ROUTES_BY_OPERATION[operation].route_key}"
        if lines[first - 2].strip() != expected:
            wrong.append(f"{file}:{first - 1}: {lines[first - 2].strip()!r}, expected {expected!r}")
    assert not wrong, "head each @route handler with its route key:\n  " + "\n  ".join(wrong)


def test_no_path_is_written_in_powertools_syntax_outside_the_declaration() -> None:
    offenders = [f"{rel(mod.path)}:{sub.lineno}" for mod in reach.modules().values()
                 for sub in ast.walk(mod.tree)
                 if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value.startswith("/")
                 and "<" in sub.value and ">" in sub.value and rel(mod.path) != "shared/api/declaration.py"]
    assert not offenders, f"write paths as /orders/{{order_id}}, in shared/api/declaration.py: {offenders}"


# ---------------------------------------------------------------- the table's indexes


def test_every_index_and_index_key_the_code_names_is_declared() -> None:
    import re

    indexes = {index.name for index in DECLARATION.table.indexes}
    keys = {name for index in DECLARATION.table.indexes for name in (index.pk, index.sk)}
    unknown = []
    for mod in deployed_modules().values():
        for sub in ast.walk(mod.tree):
            if (isinstance(sub, ast.keyword) and sub.arg == "IndexName") or isinstance(sub, ast.Dict):
                pairs = ([(None, sub.value)] if isinstance(sub, ast.keyword)
                         else [(k, v) for k, v in zip(sub.keys, sub.values, strict=True)])
                for k, v in pairs:
                    named = k is None or (isinstance(k, ast.Constant) and k.value == "IndexName")
                    if named and isinstance(v, ast.Constant) and v.value not in indexes:
                        unknown.append(f"{rel(mod.path)}:{v.lineno} index {v.value!r}")
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                unknown += [f"{rel(mod.path)}:{sub.lineno} key {key!r}"
                            for key in re.findall(r"\bGSI\d+(?:PK|SK)\b", sub.value) if key not in keys]
    assert not unknown, f"declare these in TABLE (infra/declaration.py) or fix the name: {unknown}"
