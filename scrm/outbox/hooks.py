"""What feature areas plug into sending: renderers (with an optional batch hook) and send-time guards."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from scrm.outbox.claim import Claimed

log = logging.getLogger(__name__)

# Send-time checks of feature areas: a payload carrying {"guard": {"kind": k, ...}} is skipped when
# GUARDS[k](guard) gives a reason (e.g. a reminder of a booking cancelled or moved after it was written).
GUARDS: dict[str, Callable[[dict[str, Any]], str]] = {}

# Rows whose payload carries {"render": {"kind": k, ...}} get their message at send time from RENDERERS[k]:
# a payload of the row's channel (for AUTO: {"custom": ..., "template": ...}), or a str, the reason to skip.
RENDERERS: dict[str, Callable[[Claimed], dict[str, Any] | str]] = {}

# An optional hook per kind, called once per claimed batch with that kind's rows (e.g. to load every
# recipient's data in one query); the renderer must still work for a row the hook did not see.
PREPARERS: dict[str, Callable[[list[Claimed]], None]] = {}


def register_renderer(kind: str, render: Callable[[Claimed], dict[str, Any] | str],
                      prepare: Callable[[list[Claimed]], None] | None = None) -> None:
    """Have rows whose payload carries {"render": {"kind": `kind`, ...}} rendered by `render` just before sending."""
    RENDERERS[kind] = render
    if prepare is not None:
        PREPARERS[kind] = prepare


def register_guard(kind: str, check: Callable[[dict[str, Any]], str]) -> None:
    """Have rows whose payload carries a guard of `kind` checked by `check` (a skip reason, or '') before sending."""
    GUARDS[kind] = check


def prepare_batch(rows: list[Claimed]) -> None:
    """Give each renderer's batch hook the claimed rows of its kind (a failing hook only costs speed)."""
    kinds: dict[str, list[Claimed]] = {}
    for row in rows:
        spec = row.payload.get("render")
        if isinstance(spec, dict) and str(spec.get("kind", "")) in PREPARERS:
            kinds.setdefault(str(spec["kind"]), []).append(row)
    for kind, batch in kinds.items():
        try:
            PREPARERS[kind](batch)
        except Exception:
            log.exception("preparing %d %s rows failed; they are rendered one by one", len(batch), kind)


def render(row: Claimed) -> dict[str, Any] | str:
    """The row's payload: its own, or its renderer's (a str is the reason to skip the row)."""
    spec = row.payload.get("render")
    if not isinstance(spec, dict):
        return row.payload
    renderer = RENDERERS.get(str(spec.get("kind", "")))
    if renderer is None:
        return f"no_renderer: no renderer registered for {spec.get('kind')!r}"
    return renderer(row)


def stale(row: Claimed) -> str:
    """The reason a guarded row must not go out any more, or ''."""
    guard = row.payload.get("guard")
    if not isinstance(guard, dict):
        return ""
    check = GUARDS.get(str(guard.get("kind", "")))
    return check(guard) if check is not None else f"no check registered for guard {guard.get('kind')!r}"
