"""compose_env's fast render gives byte for byte what Jinja's own sandboxed Template.render gives."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from scrm.services import compose_env

SAMPLE = compose_env.SAMPLE

_reference = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)
_reference.filters.update(date=compose_env._date, masked=compose_env.masked, salutation=compose_env.salutation)


def _plain(text: str, ctx: dict[str, Any]) -> str:
    """What Jinja renders without the fast path (a fresh sandbox, Template.render)."""
    return _reference.from_string(text).render(ctx).strip() if "{" in text else text


def _ctx(**over: Any) -> dict[str, Any]:
    ctx = copy.deepcopy(SAMPLE)
    ctx.update(over)
    return ctx


TEXTS = [
    "{{ customer.salutation }}您好！您的{{ vehicle.model }}上次保养是"
    "{{ vehicle.last_service_date|date('%Y年%m月%d日') }}",
    "{{ customer.name|masked }} {{ vehicle.plate|masked }} {{ member.balance }} {{ member.tier|default('普通') }}",
    "{% if vehicle %}{{ vehicle.next_service_date|date }}{% else %}无车{% endif %} {{ dealer.phone }}",
    "{{ customer }} | {{ vehicle }} | {{ member }} | {{ dealer }} | {{ today }}",      # whole dicts print as such
    "{{ vehicle.mileage }} {{ vehicle.missing_field }} {{ customer.birthday|date('%m月%d日') }}",
    "  {{ today|date }}\n  ",
    "{{ customer.name|salutation }}{{ customer.items }}{{ customer.keys }}",    # dict attributes stay dict attributes
    "{{ range(3)|list }} {{ dealer.name }}",                                    # a Jinja global: Jinja's own path
    "no fields at all",
]
CONTEXTS = [
    _ctx(),
    _ctx(vehicle=None),
    _ctx(member={}, dealer=None),
    _ctx(customer={"name": "", "surname": "", "salutation": "Dear owner", "city": "", "birthday": None, "stage": ""}),
    _ctx(vehicle={**SAMPLE["vehicle"], "last_service_date": datetime(2025, 1, 2, 23, 30, tzinfo=UTC),
                  "next_service_date": None}),
    _ctx(customer={**SAMPLE["customer"], "items": "键", "birthday": "1990-01-01"}),
    {"customer": SAMPLE["customer"]},                                           # names missing from the context
]


def _outcome(render: Callable[[str, dict[str, Any]], str], text: str, ctx: dict[str, Any]) -> tuple[str, str]:
    try:
        return "text", render(text, ctx)
    except Exception as exc:  # the same error, by type and message
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("text", TEXTS)
def test_fast_render_equals_jinjas_render(text: str) -> None:
    for ctx in CONTEXTS:
        assert _outcome(compose_env.render, text, ctx) == _outcome(_plain, text, ctx)
    assert _outcome(compose_env.render, text, CONTEXTS[0])[0] == "text"


def test_date_cache_keeps_types_and_time_zones_apart() -> None:
    day = date(2025, 3, 4)
    assert compose_env._date(day) == "2025-03-04" and compose_env._date(day) == "2025-03-04"
    same_instant = [datetime(2025, 3, 4, 20, 0, tzinfo=UTC),
                    datetime(2025, 3, 5, 4, 0, tzinfo=timezone(timedelta(hours=8)))]
    assert [compose_env._date(d, "%d %H") for d in same_instant] == ["04 20", "05 04"]   # equal, not the same text
    assert compose_env._date(day, "%Y年") == "2025年" and compose_env._date(None) == ""
    for n in range(compose_env._DATE_CACHE_MAX + 5):   # bounded: cleared when full
        compose_env._date(date(2000, 1, 1) + timedelta(days=n))
    assert len(compose_env._date_cache) <= compose_env._DATE_CACHE_MAX


def test_the_sandbox_still_refuses_unsafe_attributes() -> None:
    with pytest.raises(SecurityError):
        compose_env.render("{{ customer.name.__class__.__mro__ }}", {"customer": {"name": "x"}})
    assert compose_env.render("{{ customer.__class__ }}", {"customer": {"name": "x"}}) == ""
