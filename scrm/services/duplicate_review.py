"""Staff review of duplicate candidates: the list of open pairs, the side-by-side comparison, dismissal,
the merge history, and what the customer page shows about merges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from scrm import db
from scrm.models import (
    Customer,
    CustomerBinding,
    DuplicatePair,
    MergeRecord,
    PairKind,
    PairStatus,
    RepairOrder,
    StaffNote,
    StaffUser,
    TimelineEntry,
    Vehicle,
)
from scrm.services import audit, quality
from scrm.services.customer_admin import show_phone
from scrm.services.merge import MergeRefused, pick_values
from scrm.services.normalize_base import N_
from scrm.services.paging import Page, paginate
from scrm.services.scope import Perm, Scope

PER_PAGE = 30
# (field, English label msgid) on the comparison page, in order
COMPARED = (("name", N_("Name")), ("mobile", N_("Mobile")), ("landline", N_("Landline")), ("gender", N_("Gender")),
            ("birthday", N_("Birthday")), ("city", N_("City")), ("source", N_("Source")), ("stage", N_("Stage")),
            ("external_id", N_("Dealer system id")), ("tags", N_("Tags")), ("consent_at", N_("Consent to contact")),
            ("created_at", N_("On the books since")), ("updated_at", N_("Last change")))
PHONES = ("mobile", "landline")


@dataclass(frozen=True)
class PairRow:
    """A pair with both customers loaded (for the list)."""

    pair: DuplicatePair
    first: Customer
    second: Customer
    first_phone: str
    second_phone: str


def list_pairs(scope: Scope, dealer_id: int, kind: str = "", page: int = 1) -> Page[PairRow]:
    """Open pairs of a dealer in scope, most certain first."""
    live = sa.select(Customer.id).where(Customer.dealer_id == dealer_id, Customer.merged_into_id.is_(None),
                                        Customer.erased_at.is_(None))
    # a pair whose customer was erased (or merged elsewhere) since the last run is not worth a look
    stmt = scope.apply(sa.select(DuplicatePair), DuplicatePair).where(
        DuplicatePair.dealer_id == dealer_id, DuplicatePair.status == PairStatus.OPEN,
        DuplicatePair.first_id.in_(live), DuplicatePair.second_id.in_(live))
    if kind in {k.value for k in PairKind}:
        stmt = stmt.where(DuplicatePair.kind == PairKind(kind))
    result = paginate(db.session(), stmt.order_by(DuplicatePair.score.desc(), DuplicatePair.id), page, PER_PAGE)
    ids = {i for p in result.items for i in (p.first_id, p.second_id)}
    people = {c.id: c for c in db.session.scalars(sa.select(Customer).where(Customer.id.in_(ids)))}
    rows = [PairRow(p, people[p.first_id], people[p.second_id], show_phone(scope, people[p.first_id].mobile),
                    show_phone(scope, people[p.second_id].mobile)) for p in result.items]
    return Page(items=rows, page=result.page, per_page=result.per_page, total=result.total)


@dataclass(frozen=True)
class Side:
    """One record on the comparison page: its values as shown, vehicles and history counts."""

    customer: Customer
    values: dict[str, Any]
    vehicles: list[Vehicle]
    counts: dict[str, int]


def _side(scope: Scope, c: Customer) -> Side:
    s = db.session()
    values: dict[str, Any] = {name: getattr(c, name) for name, _label in COMPARED}
    for name in PHONES:
        values[name] = show_phone(scope, values[name])
    counts = {}
    for key, model in (("repair_orders", RepairOrder), ("timeline_entries", TimelineEntry),
                       ("staff_notes", StaffNote), ("bindings", CustomerBinding)):
        counts[key] = int(s.scalar(sa.select(sa.func.count()).select_from(model).where(
            model.customer_id == c.id)) or 0)
    vehicles = list(s.scalars(sa.select(Vehicle).where(Vehicle.customer_id == c.id).order_by(Vehicle.id)))
    return Side(c, values, vehicles, counts)


@dataclass(frozen=True)
class Comparison:
    """Both records of a pair and the values a merge would keep."""

    pair: DuplicatePair
    first: Side
    second: Side
    result: dict[str, Any]
    default_survivor: int
    vehicles_after: int  # a car on both records (same plate) is kept once


def compare(scope: Scope, pair_id: int) -> Comparison:
    """The comparison page of one pair (NotFound outside the scope)."""
    s = db.session()
    pair = scope.get(s, DuplicatePair, pair_id)
    first, second = scope.get(s, Customer, pair.first_id), scope.get(s, Customer, pair.second_id)
    result = {name: getattr(first if first.updated_at >= second.updated_at else second, name)
              for name, _label in COMPARED}
    result.update(pick_values(first, second))
    result["updated_at"] = None
    for name in PHONES:
        result[name] = show_phone(scope, result[name])
    # the record on the books longest survives unless staff choose otherwise
    default = first.id if (first.created_at, first.id) <= (second.created_at, second.id) else second.id
    a, b = _side(scope, first), _side(scope, second)
    plates = {v.plate for v in a.vehicles if v.plate}
    twins = sum(1 for v in b.vehicles if v.plate in plates)
    return Comparison(pair, a, b, result, default, len(a.vehicles) + len(b.vehicles) - twins)


def dismiss(actor: StaffUser, pair_id: int, ip: str = "") -> DuplicatePair:
    """Mark a pair "not the same person": it is never proposed again."""
    scope = Scope.of(actor)
    scope.require(Perm.CUSTOMERS_MERGE)
    with db.transaction() as s:
        pair = scope.get(s, DuplicatePair, pair_id)
        if pair.status != PairStatus.OPEN:
            raise MergeRefused("This pair has already been resolved; reload the page.")
        pair.status, pair.resolved_at, pair.resolved_by = PairStatus.DISMISSED, db.utcnow(), actor.id
        audit.record(s, staff=actor, action="quality.dismiss", target_type="duplicate_pair", target_id=pair.id,
                     detail={"first_id": pair.first_id, "second_id": pair.second_id, "score": pair.score},
                     ip=ip, dealer_id=pair.dealer_id)
    quality.forget(pair.dealer_id)
    return pair


@dataclass(frozen=True)
class MergeRow:
    """A merge in the history, with the names of both records."""

    record: MergeRecord
    survivor: Customer
    merged: Customer
    staff: str


def merge_history(scope: Scope, dealer_id: int | None, page: int = 1,
                  customer_id: int | None = None) -> Page[MergeRow]:
    """Merges in scope, newest first; for one dealer or (with `customer_id`) into one customer."""
    stmt = scope.apply(sa.select(MergeRecord), MergeRecord)
    if dealer_id is not None:
        stmt = stmt.where(MergeRecord.dealer_id == dealer_id)
    if customer_id is not None:
        stmt = stmt.where(MergeRecord.survivor_id == customer_id)
    result = paginate(db.session(), stmt.order_by(MergeRecord.id.desc()), page, PER_PAGE)
    ids = {i for r in result.items for i in (r.survivor_id, r.merged_id)}
    people = {c.id: c for c in db.session.scalars(sa.select(Customer).where(Customer.id.in_(ids)))}
    staff_ids = {r.staff_id for r in result.items if r.staff_id}
    names = {u.id: u.display_name or u.username
             for u in db.session.scalars(sa.select(StaffUser).where(StaffUser.id.in_(staff_ids)))}
    rows = [MergeRow(r, people[r.survivor_id], people[r.merged_id], names.get(r.staff_id or 0, ""))
            for r in result.items]
    return Page(items=rows, page=result.page, per_page=result.per_page, total=result.total)


def open_pairs_of(scope: Scope, customer_id: int, limit: int = 10) -> list[tuple[DuplicatePair, Customer]]:
    """Open candidate pairs that involve a customer, with the other record."""
    stmt = scope.apply(sa.select(DuplicatePair), DuplicatePair).where(
        DuplicatePair.status == PairStatus.OPEN,
        sa.or_(DuplicatePair.first_id == customer_id, DuplicatePair.second_id == customer_id))
    pairs = list(db.session.scalars(stmt.order_by(DuplicatePair.score.desc()).limit(limit)))
    others = {p.id: p.second_id if p.first_id == customer_id else p.first_id for p in pairs}
    people = {c.id: c for c in db.session.scalars(sa.select(Customer).where(Customer.id.in_(others.values())))}
    return [(p, people[others[p.id]]) for p in pairs if others[p.id] in people]
