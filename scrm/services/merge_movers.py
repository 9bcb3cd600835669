"""What a merge moves from the merged customer to the survivor: a registry other modules extend.

A mover takes every row of one table that belongs to the merged customer and gives it to the survivor,
returning the ids it moved (kept in MergeRecord.moved[name], so unmerge moves exactly those back).
Later areas (bookings, points, ...) register theirs with `register(Mover(...))` or `register_table(...)`
at import time; nothing here needs to know them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.models import (
    BindingCode,
    ConsentRecord,
    CustomerBinding,
    CustomerScore,
    LeadIntent,
    LeadScore,
    RepairOrder,
    StaffNote,
    Task,
    TimelineEntry,
    Vehicle,
)
from scrm.services.normalize_base import N_

# (session, from customer id, to customer id) -> what moved (row ids, or JSON a special mover needs to undo)
MoveFn = Callable[[Session, int, int], list[Any]]
UndoFn = Callable[[Session, int, int, list[Any]], int]  # (session, from, to, what moved) -> rows moved back


@dataclass(frozen=True)
class Mover:
    """One table's share of a merge: `name` keys MergeRecord.moved; `label` is an English msgid."""

    name: str
    label: str
    move: MoveFn
    undo: UndoFn


MOVERS: list[Mover] = []


def register(mover: Mover) -> None:
    """Add (or replace, by name) a mover; merges run them in registration order."""
    MOVERS[:] = [m for m in MOVERS if m.name != mover.name] + [mover]


def table_mover(name: str, label: str, model: type[Any], column: str = "customer_id") -> Mover:
    """A mover for a table whose rows point at the customer through `column`."""
    col = getattr(model, column)

    def move(s: Session, source: int, target: int) -> list[Any]:
        ids: list[Any] = sorted(s.scalars(sa.select(model.id).where(col == source)))
        if ids:
            s.execute(sa.update(model).where(model.id.in_(ids)).values({column: target})
                      .execution_options(synchronize_session=False))
        return ids

    def undo(s: Session, source: int, target: int, ids: list[Any]) -> int:
        if not ids:
            return 0
        # only rows still on the survivor go back: a row deleted since the merge is simply gone
        res = s.execute(sa.update(model).where(model.id.in_(ids), col == target).values({column: source})
                        .execution_options(synchronize_session=False))
        return int(res.rowcount or 0)  # type: ignore[attr-defined]

    return Mover(name, label, move, undo)


def register_table(name: str, label: str, model: type[Any], column: str = "customer_id") -> None:
    """Register a plain table mover."""
    register(table_mover(name, label, model, column))


# Follower bindings move as they are: a follower has at most one binding per dealer, and both customers
# belong to the same dealer, so the survivor can never already hold a binding of the same follower.
register_table("vehicles", N_("vehicles"), Vehicle)
register_table("repair_orders", N_("repair orders"), RepairOrder)
register_table("timeline_entries", N_("timeline entries"), TimelineEntry)
register_table("staff_notes", N_("staff notes"), StaffNote)
register_table("customer_bindings", N_("follower bindings"), CustomerBinding)
register_table("consent_records", N_("consent records"), ConsentRecord)
register_table("binding_codes", N_("binding codes"), BindingCode)
register_table("tasks", N_("follow-up tasks"), Task)
register_table("lead_intents", N_("purchase intents"), LeadIntent)
register_table("lead_scores", N_("lead scores"), LeadScore)


def _drop_score(s: Session, source: int, target: int) -> list[Any]:
    """The merged record's scores are dropped (the survivor keeps its own; the nightly run rescores it)."""
    s.execute(sa.delete(CustomerScore).where(CustomerScore.customer_id == source))
    return []


register(Mover("customer_scores", N_("scores"), _drop_score, lambda s, source, target, ids: 0))
