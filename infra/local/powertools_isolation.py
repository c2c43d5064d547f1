"""Local only: give every thread its own Powertools event-handler request (never deployed).

Powertools' HTTP resolvers keep the request being handled on a CLASS attribute: `resolve()` does
`BaseRouter.current_event = event` (and `.lambda_context = context`), and every resolver and router reads it
back from there. In Lambda that is harmless: one process, one event at a time. The local runtime runs every
function in one process, on many threads, so two HTTP functions answering at once read each other's
request: a merchant's POST /merchant/skus racing a GET /health saw the health check's event, without the
merchant's claims, and answered 401 (the demo SKU that failed to seed at start).

`apply()` makes both attributes per thread, for class-level access (`BaseRouter.current_event = ...`, through
a metaclass property) and instance access (`app.current_event`, through a descriptor on BaseRouter), so each
handler thread sees its own event, as its own Lambda environment would. Idempotent.
"""

from __future__ import annotations

import threading
from abc import ABCMeta
from typing import Any

NAMES = ("current_event", "lambda_context")

_state = threading.local()
_lock = threading.Lock()


def _read(name: str) -> Any:
    try:
        return getattr(_state, name)
    except AttributeError:
        raise AttributeError(f"no {name} on this thread: no resolver has handled an event on it") from None


class _PerThread:
    """The instance-level view (`app.current_event`), stored per thread."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        return _read(self.name)

    def __set__(self, instance: Any, value: Any) -> None:
        setattr(_state, self.name, value)


def _class_property(name: str) -> property:
    def get(cls: type) -> Any:
        return _read(name)

    def set_(cls: type, value: Any) -> None:
        setattr(_state, name, value)

    return property(get, set_)


class PerThreadRouterMeta(ABCMeta):
    """BaseRouter's metaclass once applied: `BaseRouter.current_event = x` stores x for this thread only."""

    current_event = _class_property("current_event")
    lambda_context = _class_property("lambda_context")


def apply() -> None:
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

    with _lock:
        if type(BaseRouter) is PerThreadRouterMeta:
            return
        for name in NAMES:
            # While BaseRouter's metaclass is still ABCMeta this lands in its own dict, for instances to find.
            setattr(BaseRouter, name, _PerThread(name))
        setattr(BaseRouter, "__class__", PerThreadRouterMeta)  # noqa: B010  # a metaclass swap mypy cannot type


def applied() -> bool:
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

    return type(BaseRouter) is PerThreadRouterMeta
