"""Undoing a merge: both records get their values back, moved rows go home, the pair is open again.

A field of the survivor that was changed AFTER the merge (by staff, an import, the API) keeps its new
value; every field still as the merge left it gets its old value back. An undo is refused while a
later merge involves either record (undo the latest first) or when the merged record was erased.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import (
    Customer,
    DuplicatePair,
    Gender,
    MergeRecord,
    PairKind,
    PairStatus,
    StaffUser,
    Stage,
    TimelineEntry,
)
from scrm.services import audit, quality
from scrm.services.errors import NotFound
from scrm.services.merge import DUMPED, UNIQUE, MergeRefused, dump, lock_customers
from scrm.services.merge_movers import MOVERS
from scrm.services.normalize_base import N_
from scrm.services.scope import Perm, Scope

UNMERGE_TITLE = N_("Merge undone")
_DATES = {"birthday"}
_TIMES = {"consent_at", "created_at", "updated_at"}


def load_value(name: str, value: Any) -> Any:
    """A dumped column value back as the column's Python type."""
    if value is None:
        return None
    if name in _DATES:
        return date.fromisoformat(value)
    if name in _TIMES:
        return datetime.fromisoformat(value)
    if name == "gender":
        return Gender(value)
    if name == "stage":
        return Stage(value)
    if name == "tags":
        return list(value)
    return value


def _refuse_unsafe(s: Session, record: MergeRecord, survivor: Customer, merged: Customer) -> None:
    if record.undone_at is not None:
        raise MergeRefused("This merge has already been undone.")
    if survivor.merged_into_id is not None:
        raise MergeRefused("The kept record #%(id)s was merged again later, into #%(into)s: undo that merge "
                           "first.", id=survivor.id, into=survivor.merged_into_id)
    if merged.erased_at is not None:
        raise MergeRefused("The merged record #%(id)s has been erased since; the merge cannot be undone.",
                           id=merged.id)
    ids = (survivor.id, merged.id)
    later = s.scalar(sa.select(MergeRecord.id).where(
        MergeRecord.id > record.id, MergeRecord.undone_at.is_(None),
        sa.or_(MergeRecord.survivor_id.in_(ids), MergeRecord.merged_id.in_(ids))).order_by(MergeRecord.id.desc()))
    if later is not None:
        raise MergeRefused("A later merge (#%(id)s) involves these records: undo the latest merge first.", id=later)


def _restore(s: Session, record: MergeRecord, survivor: Customer, merged: Customer) -> list[str]:
    """Put field values back; returns the survivor fields kept because they changed after the merge."""
    before, after = record.before, record.before.get("after", {})
    current = dump(survivor)
    kept = [n for n in DUMPED if n != "updated_at" and current[n] != after.get(n) and n in before["survivor"]]
    for name in DUMPED:
        if name in kept:
            continue
        if name == "updated_at" and kept:
            continue
        setattr(survivor, name, load_value(name, before["survivor"][name]))
    s.flush()
    for name in UNIQUE:
        value = before["merged"][name]
        if value is not None and s.scalar(sa.select(Customer.id).where(
                Customer.dealer_id == merged.dealer_id, getattr(Customer, name) == value, Customer.id != merged.id)):
            raise MergeRefused("Another record now holds the %(field)s %(value)s of the merged record; change "
                               "it first.", field=name, value=value)
    for name in DUMPED:
        setattr(merged, name, load_value(name, before["merged"][name]))
    s.flush()
    return kept


def _restore_pairs(s: Session, record: MergeRecord) -> None:
    if record.pair_id is not None:
        pair = s.get(DuplicatePair, record.pair_id)
        if pair is not None:
            pair.status, pair.resolved_at, pair.resolved_by = PairStatus.OPEN, None, None
    info = record.moved.get("_pairs", {})
    for pair_id, first, second in info.get("repointed", []):
        pair = s.get(DuplicatePair, pair_id)
        if pair is not None and pair.status == PairStatus.OPEN:
            pair.first_id, pair.second_id = first, second
    s.flush()
    for d in info.get("dropped", []):
        exists = s.scalar(sa.select(DuplicatePair.id).where(
            DuplicatePair.dealer_id == record.dealer_id, DuplicatePair.first_id == d["first_id"],
            DuplicatePair.second_id == d["second_id"]))
        if exists is None:
            s.add(DuplicatePair(account_id=record.account_id, dealer_id=record.dealer_id, first_id=d["first_id"],
                                second_id=d["second_id"], kind=PairKind(d["kind"]), score=d["score"],
                                reasons=d["reasons"], status=PairStatus.OPEN, detected_at=db.utcnow()))


def unmerge(actor: StaffUser, merge_id: int, *, ip: str = "") -> MergeRecord:
    """Undo one merge exactly (see the module docstring for when it is refused)."""
    scope = Scope.of(actor)
    scope.require(Perm.CUSTOMERS_MERGE)
    with db.transaction() as s:
        record = scope.get(s, MergeRecord, merge_id)
        rows = lock_customers(s, record.survivor_id, record.merged_id)
        survivor, merged = rows.get(record.survivor_id), rows.get(record.merged_id)
        if survivor is None or merged is None:
            raise NotFound()
        s.refresh(record, with_for_update=True)
        _refuse_unsafe(s, record, survivor, merged)
        kept = _restore(s, record, survivor, merged)
        back = {m.name: m.undo(s, merged.id, survivor.id, list(record.moved.get(m.name, []))) for m in MOVERS}
        _restore_pairs(s, record)
        now = db.utcnow()
        record.undone_at, record.undone_by = now, actor.id
        for customer, other in ((survivor, merged), (merged, survivor)):
            s.add(TimelineEntry(account_id=customer.account_id, dealer_id=customer.dealer_id,
                                customer_id=customer.id, kind="unmerge", title=UNMERGE_TITLE, occurred_at=now,
                                created_at=now, detail={"merge_id": record.id, "other_id": other.id,
                                                        "staff": actor.display_name or actor.username}))
        audit.record(s, staff=actor, action="customer.unmerge", target_type="customer", target_id=survivor.id,
                     detail={"merge_id": record.id, "merged_id": merged.id, "moved_back": back, "kept": kept},
                     ip=ip, dealer_id=survivor.dealer_id)
    quality.forget(record.dealer_id)
    return record
