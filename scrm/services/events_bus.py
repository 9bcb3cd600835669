"""A small, explicit in-process bus for domain events.

Other modules register handlers at import time with `subscribe(EventType, handler)`; a service calls
`publish(session, event)` inside its own transaction. Handlers run at once, in registration order, in
the SAME session and transaction: what they write commits or rolls back with the change that caused
it (a completed booking and its timeline entry never disagree), and a failing handler undoes the whole
change rather than leaving it half-applied. Anything that leaves the database (a WeChat message, a
push) must not be done by a handler directly: it writes an outbox row, which the outbox sends after
commit, so nothing goes out for a change that was rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

E = TypeVar("E")
Handler = Callable[[Session, Any], None]

_HANDLERS: dict[type[Any], list[tuple[str, Handler]]] = {}


def subscribe(event_type: type[E], handler: Callable[[Session, E], None], name: str = "") -> None:
    """Run `handler(session, event)` for every published `event_type`; the same name replaces, not doubles."""
    key = name or f"{handler.__module__}.{handler.__qualname__}"
    handlers = [h for h in _HANDLERS.get(event_type, []) if h[0] != key]
    handlers.append((key, handler))
    _HANDLERS[event_type] = handlers


def unsubscribe(event_type: type[Any], name: str) -> None:
    """Remove the handler registered under `name` (tests)."""
    _HANDLERS[event_type] = [h for h in _HANDLERS.get(event_type, []) if h[0] != name]


def handlers(event_type: type[Any]) -> list[str]:
    """The names of the handlers of `event_type`, in the order they run."""
    return [name for name, _ in _HANDLERS.get(event_type, [])]


def publish(s: Session, event: object) -> None:
    """Run every handler of the event's type now, in the caller's transaction; errors propagate."""
    for _, handler in list(_HANDLERS.get(type(event), [])):
        handler(s, event)
