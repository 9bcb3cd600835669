"""The in-process event bus: handlers run in registration order, once each, and errors reach the caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from scrm.services import events_bus


@dataclass(frozen=True)
class Ping:
    n: int


@dataclass(frozen=True)
class Pong:
    n: int


def test_handlers_run_in_order_and_a_name_replaces() -> None:
    seen: list[str] = []
    events_bus.subscribe(Ping, lambda s, e: seen.append(f"a{e.n}"), name="t.a")
    events_bus.subscribe(Ping, lambda s, e: seen.append(f"b{e.n}"), name="t.b")
    events_bus.subscribe(Ping, lambda s, e: seen.append(f"A{e.n}"), name="t.a")  # re-registering replaces
    try:
        session: Any = object()
        events_bus.publish(session, Ping(1))
        events_bus.publish(session, Pong(2))  # nobody listens: nothing runs
        assert seen == ["b1", "A1"] and events_bus.handlers(Ping) == ["t.b", "t.a"]
    finally:
        events_bus.unsubscribe(Ping, "t.a")
        events_bus.unsubscribe(Ping, "t.b")
    assert events_bus.handlers(Ping) == []


def test_a_failing_handler_stops_the_publish() -> None:
    def boom(s: Any, e: Ping) -> None:
        raise RuntimeError("boom")

    after: list[int] = []
    events_bus.subscribe(Ping, boom, name="t.boom")
    events_bus.subscribe(Ping, lambda s, e: after.append(e.n), name="t.after")
    try:
        session: Any = object()
        with pytest.raises(RuntimeError):
            events_bus.publish(session, Ping(3))
        assert after == []
    finally:
        events_bus.unsubscribe(Ping, "t.boom")
        events_bus.unsubscribe(Ping, "t.after")
