"""The grant strings of the declaration, parsed strictly: an unknown kind or name fails synth."""

from __future__ import annotations

from dataclasses import dataclass

from infra.declaration import Declaration

# kind -> the one action each kind allows, and whether it names a resource ("queue:<name>:send").
_ACTIONS: dict[str, tuple[str, bool]] = {
    "table": ("", False),
    "queue": ("send", True),
    "workflow": ("start", True),
    "topic": ("publish", True),
    "secret": ("read", True),
    "param": ("read", True),
    "appconfig": ("read", True),
}
_TABLE_ACTIONS = ("read", "write")


class GrantError(ValueError):
    """A grant the stack does not know how to give; raised at synth, never ignored."""


@dataclass(frozen=True)
class Grant:
    kind: str  # table | queue | workflow | topic | secret | param | appconfig
    action: str  # read | write | send | start | publish
    name: str | None = None  # the queue, workflow, topic, secret or parameter


def parse_grant(text: str) -> Grant:
    parts = text.split(":")
    kind = parts[0]
    if kind not in _ACTIONS:
        raise GrantError(f"unknown grant kind {kind!r} in {text!r}")
    action, named = _ACTIONS[kind]
    if not named:
        if len(parts) != 2 or parts[1] not in _TABLE_ACTIONS:
            raise GrantError(f"{text!r}: expected table:read or table:write")
        return Grant(kind, parts[1])
    if len(parts) != 3 or not parts[1] or parts[2] != action:
        raise GrantError(f"{text!r}: expected {kind}:<name>:{action}")
    return Grant(kind, action, parts[1])


def check_declaration(decl: Declaration) -> None:
    """Every grant parses and names something declared; every consumer/route/schedule names a function."""
    functions = {f.name for f in decl.functions}
    if len(functions) != len(decl.functions):
        raise GrantError("a function name is declared twice")
    known = {
        "queue": {q.name for q in decl.queues},
        "workflow": {w.name for w in decl.workflows},
        "topic": {t.name for t in decl.topics},
        "secret": {s.name for s in decl.secrets},
    }
    for fn in decl.functions:
        for text in fn.grants:
            grant = parse_grant(text)
            # Parameters are not declared resources (ops own them); everything else must exist.
            if grant.kind in known and grant.name not in known[grant.kind]:
                raise GrantError(f"{fn.name}: {text!r} names an undeclared {grant.kind}")
    users = [(f"queue {q.name}", q.consumer) for q in decl.queues]
    users += [(f"route {r.route_key}", r.function) for r in decl.routes]
    users += [(f"schedule {s.name}", s.function) for s in decl.schedules]
    users += [(f"workflow {w.name}", f) for w in decl.workflows for f in w.functions]
    for what, name in users:
        if name not in functions:
            raise GrantError(f"{what} names undeclared function {name!r}")
