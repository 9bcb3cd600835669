"""Merging two customer records of one dealer into one, recorded so that it can be undone exactly.

The survivor keeps, per field, the newest non-empty value (the record with the later `updated_at` wins;
staff choose which record survives), the union of the tags, the earliest `created_at` and any consent.
Rows of the merged customer move to the survivor through the registered movers (merge_movers). The
merged record stays as a tombstone with `merged_into_id`; its unique keys (mobile, external id) are
cleared, so an import or the bot looking a customer up by mobile finds the survivor, never the
tombstone; the MergeRecord remembers them for the undo (merge_undo).

Two staff merging overlapping pairs at once: both customer rows are locked (`SELECT ... FOR UPDATE`,
in id order, so two merges never deadlock) and re-read after the lock; the later merge then sees the
record already merged and stops with a clear message.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Customer, DuplicatePair, MergeRecord, PairStatus, StaffUser, Stage, TimelineEntry
from scrm.services import audit, merge_vehicles, quality
from scrm.services.errors import DomainError, NotFound
from scrm.services.merge_movers import MOVERS
from scrm.services.normalize_base import N_
from scrm.services.scope import Perm, Scope
from scrm.wechat.render import translator

assert merge_vehicles  # registers the vehicle folding mover

# Fields decided "newest non-empty wins"; mobile and external_id are unique per dealer.
PICKED = ("name", "mobile", "landline", "gender", "birthday", "city", "source", "external_id")
UNIQUE = ("mobile", "external_id")
# Every column a merge may change, dumped before and after so that an undo can put them back.
DUMPED = (*PICKED, "stage", "tags", "consent_at", "consent_text", "created_at", "updated_at", "merged_into_id")
STAGE_RANK = {Stage.OWNER: 3, Stage.PROSPECT: 2, Stage.LEAD: 1, Stage.LOST: 0}

MERGE_TITLE = N_("Merged with another customer record")
MERGED_SUMMARY = N_("Customer #%(id)s (%(name)s) was merged into this record; moved: %(moved)s.")
NOTHING_MOVED = N_("nothing")

audit.ACTIONS.update({"customer.merge": "Merged two customer records",
                      "customer.unmerge": "Undid a merge of customer records",
                      "quality.dismiss": "Dismissed a duplicate candidate",
                      "quality.detect": "Ran duplicate detection",
                      "quality.snapshot": "Took a data quality snapshot"})


class MergeRefused(DomainError):
    """The merge (or its undo) cannot be done as asked; `message` says why."""

    message = "These two records cannot be merged."


def dump_value(value: Any) -> Any:
    """A column value as JSON (dates as ISO text, enums as their value)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    if isinstance(value, list):
        return list(value)
    return value


def dump(c: Customer) -> dict[str, Any]:
    """The merge-relevant columns of a customer as JSON."""
    return {name: dump_value(getattr(c, name)) for name in DUMPED}


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def lock_customers(s: Session, *ids: int) -> dict[int, Customer]:
    """Lock the customers' rows in id order and load their current values (fresh, not cached)."""
    stmt = (sa.select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id)
            .with_for_update().execution_options(populate_existing=True))
    return {c.id: c for c in s.scalars(stmt)}


def _check_live(c: Customer | None, scope: Scope) -> Customer:
    if c is None or not scope.allows(c):
        raise NotFound()
    if c.merged_into_id is not None:
        raise MergeRefused("Customer #%(id)s has already been merged into #%(into)s; reload the page.",
                           id=c.id, into=c.merged_into_id)
    if c.erased_at is not None:
        raise MergeRefused("Customer #%(id)s has been erased and cannot be merged.", id=c.id)
    return c


def pick_values(survivor: Customer, merged: Customer) -> dict[str, Any]:
    """The survivor's new values: newest non-empty per field, tags union, earliest created, any consent."""
    newer, older = (merged, survivor) if merged.updated_at > survivor.updated_at else (survivor, merged)
    values: dict[str, Any] = {}
    for name in PICKED:
        new, old = getattr(newer, name), getattr(older, name)
        values[name] = new if not _empty(new) else old
    values["tags"] = list(dict.fromkeys([*(survivor.tags or []), *(merged.tags or [])]))
    values["created_at"] = min(survivor.created_at, merged.created_at)
    stage = max((survivor.stage, merged.stage), key=lambda st: STAGE_RANK.get(st, 0))
    values["stage"] = stage
    if survivor.consent_at is None and merged.consent_at is not None:
        values["consent_at"], values["consent_text"] = merged.consent_at, merged.consent_text
    return values


def _repoint_pairs(s: Session, survivor: int, merged: int, pair_id: int | None) -> dict[str, Any]:
    """Other open pairs of the merged record now concern the survivor (or go, if one exists already)."""
    repointed: list[list[int]] = []
    dropped: list[dict[str, Any]] = []
    others = s.scalars(sa.select(DuplicatePair).where(
        DuplicatePair.status == PairStatus.OPEN, DuplicatePair.id != (pair_id or 0),
        sa.or_(DuplicatePair.first_id == merged, DuplicatePair.second_id == merged)))
    for pair in list(others):
        other = pair.second_id if pair.first_id == merged else pair.first_id
        low, high = min(survivor, other), max(survivor, other)
        exists = s.scalar(sa.select(DuplicatePair.id).where(
            DuplicatePair.dealer_id == pair.dealer_id, DuplicatePair.first_id == low,
            DuplicatePair.second_id == high))
        if other == survivor or exists is not None:
            dropped.append({"first_id": pair.first_id, "second_id": pair.second_id, "kind": pair.kind.value,
                            "score": pair.score, "reasons": list(pair.reasons or [])})
            s.delete(pair)
        else:
            repointed.append([pair.id, pair.first_id, pair.second_id])
            pair.first_id, pair.second_id = low, high
    return {"repointed": repointed, "dropped": dropped}


def merge_customers(actor: StaffUser, survivor_id: int, merged_id: int, *, pair_id: int | None = None,
                    ip: str = "") -> MergeRecord:
    """Merge `merged_id` into `survivor_id` (same dealer, both live); returns the MergeRecord."""
    scope = Scope.of(actor)
    scope.require(Perm.CUSTOMERS_MERGE)
    if survivor_id == merged_id:
        raise MergeRefused("A record cannot be merged with itself.")
    first = scope.get(db.session(), Customer, survivor_id)
    quality.ensure_daily_snapshot(actor, first.dealer_id)
    with db.transaction() as s:
        rows = lock_customers(s, survivor_id, merged_id)
        survivor = _check_live(rows.get(survivor_id), scope)
        merged = _check_live(rows.get(merged_id), scope)
        if survivor.dealer_id != merged.dealer_id:
            raise MergeRefused("Only records of the same dealer can be merged.")
        pair = _pair_for(s, survivor, merged, pair_id)
        before = {"survivor": dump(survivor), "merged": dump(merged)}
        values = pick_values(survivor, merged)
        nulled = []
        for name in UNIQUE:  # the tombstone gives up its unique keys, so lookups by mobile find the survivor
            if getattr(merged, name) is not None:
                setattr(merged, name, None)
                nulled.append(name)
        merged.merged_into_id = survivor.id
        merged.updated_at = db.utcnow()
        s.flush()
        for name, value in values.items():
            setattr(survivor, name, value)
        survivor.updated_at = db.utcnow()
        s.flush()
        moved: dict[str, Any] = {m.name: m.move(s, merged.id, survivor.id) for m in MOVERS}
        moved["_pairs"] = _repoint_pairs(s, survivor.id, merged.id, pair.id if pair else None)
        moved["_nulled"] = nulled
        if pair is not None:
            pair.status, pair.resolved_at, pair.resolved_by = PairStatus.MERGED, db.utcnow(), actor.id
        before["after"] = dump(survivor)
        before["merged_after"] = dump(merged)
        record = MergeRecord(account_id=survivor.account_id, dealer_id=survivor.dealer_id, survivor_id=survivor.id,
                             merged_id=merged.id, pair_id=pair.id if pair else None, staff_id=actor.id,
                             before=before, moved=moved, created_at=db.utcnow())
        s.add(record)
        s.flush()
        counts = {m.name: len(moved[m.name]) for m in MOVERS if moved[m.name]}
        _ = translator(actor.language or "zh")
        sep = "、" if (actor.language or "zh") == "zh" else ", "
        summary = sep.join(f"{_(m.label)} {counts[m.name]}" for m in MOVERS if m.name in counts)
        s.add(TimelineEntry(account_id=survivor.account_id, dealer_id=survivor.dealer_id, customer_id=survivor.id,
                            kind="merge", title=MERGE_TITLE, occurred_at=db.utcnow(), created_at=db.utcnow(),
                            detail={"merge_id": record.id, "merged_id": merged.id, "moved": counts,
                                    "staff": actor.display_name or actor.username,
                                    "text": _(MERGED_SUMMARY, id=merged.id, name=before["merged"]["name"] or "—",
                                              moved=summary or _(NOTHING_MOVED))}))
        audit.record(s, staff=actor, action="customer.merge", target_type="customer", target_id=survivor.id,
                     detail={"merge_id": record.id, "merged_id": merged.id, "pair_id": record.pair_id,
                             "moved": counts}, ip=ip, dealer_id=survivor.dealer_id)
    quality.forget(record.dealer_id)
    return record


def _pair_for(s: Session, survivor: Customer, merged: Customer, pair_id: int | None) -> DuplicatePair | None:
    """The candidate pair being resolved: the one given (it must name these two) or the stored one."""
    low, high = sorted((survivor.id, merged.id))
    stmt = sa.select(DuplicatePair).where(DuplicatePair.dealer_id == survivor.dealer_id,
                                          DuplicatePair.first_id == low, DuplicatePair.second_id == high)
    pair = s.scalar(stmt.with_for_update())
    if pair_id is not None and (pair is None or pair.id != pair_id):
        raise NotFound()
    if pair is not None and pair.status != PairStatus.OPEN and pair_id is not None:
        raise MergeRefused("This pair has already been resolved; reload the page.")
    return pair
