"""Merge and unmerge: everything moves, the newest non-empty values win, an undo restores exactly,
unsafe undos are refused, pairs follow, audit and timeline entries are written."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.db import utcnow
from scrm.models import (
    AuditLog,
    BindMethod,
    ConsentRecord,
    Customer,
    CustomerBinding,
    DuplicatePair,
    Gender,
    MergeRecord,
    PairKind,
    PairStatus,
    QualitySnapshot,
    RepairOrder,
    Role,
    StaffNote,
    Stage,
    TimelineEntry,
    Vehicle,
)
from scrm.services import merge, merge_undo
from scrm.services.errors import Forbidden, NotFound
from tests.factories import make_dealer, make_follower, make_staff
from tests.integration.customer_support import bind, make_customer, make_repair_order, make_vehicle

pytestmark = pytest.mark.integration

TABLES = (Vehicle, RepairOrder, TimelineEntry, StaffNote, CustomerBinding, ConsentRecord)


def full_dump() -> dict[str, Any]:
    """Every row of the customer tables, as plain dicts (to compare before and after)."""
    db.session.remove()
    out: dict[str, Any] = {}
    for model in (Customer, *TABLES, DuplicatePair):
        rows = db.session.scalars(sa.select(model).order_by(model.id))
        out[model.__tablename__] = [{c.name: getattr(r, c.key) for c in model.__table__.columns} for r in rows]
    return out


def without(dump: dict[str, Any], *, kinds: tuple[str, ...] = ("merge", "unmerge")) -> dict[str, Any]:
    """The dump minus the merge's own timeline entries (they stay as history)."""
    return {**dump, "timeline_entries": [t for t in dump["timeline_entries"] if t["kind"] not in kinds]}


def add_pair(a: Customer, b: Customer, **kw: Any) -> DuplicatePair:
    low, high = sorted((a.id, b.id))
    with db.transaction() as s:
        p = DuplicatePair(account_id=a.account_id, dealer_id=a.dealer_id, first_id=low, second_id=high,
                          kind=kw.pop("kind", PairKind.FUZZY), score=kw.pop("score", 80),
                          reasons=["homophone_name", "same_plate"], status=kw.pop("status", PairStatus.OPEN))
        s.add(p)
    return p


@pytest.fixture
def world(app: Any) -> dict[str, Any]:
    d = make_dealer(code="MG")
    old = utcnow() - timedelta(days=30)
    survivor = make_customer(d, name="张伟", mobile="13800000001", city=None, gender=Gender.MALE, tags=["车主"],
                             created_at=old - timedelta(days=300), updated_at=old, stage=Stage.PROSPECT)
    merged = make_customer(d, name="章伟", mobile="13900000002", city="上海", birthday=date(1980, 5, 6),
                           external_id="DMS-7", tags=["VIP", "车主"], consent_at=old, consent_text="同意",
                           created_at=old, updated_at=utcnow(), stage=Stage.OWNER)
    other = make_customer(d, name="张玮", mobile="13700000003")
    v1 = make_vehicle(survivor, plate="沪A12345")
    v2 = make_vehicle(merged, plate="沪A12345", vin="LSVAU2180N2183294", model="帕萨特")
    make_repair_order(merged, date(2024, 5, 1), vehicle_id=v2.id, type="保养")
    follower = make_follower()
    bind(merged, follower)
    with db.transaction() as s:
        s.add(StaffNote(account_id=d.account_id, dealer_id=d.id, customer_id=merged.id, text="喜欢周末来店"))
        s.add(TimelineEntry(account_id=d.account_id, dealer_id=d.id, customer_id=merged.id, kind="note",
                            title="Staff note", detail={"text": "喜欢周末来店"}))
        s.add(ConsentRecord(account_id=d.account_id, dealer_id=d.id, customer_id=merged.id, follower_id=follower.id,
                            channel=BindMethod.CHAT, text="同意"))
    pair = add_pair(survivor, merged)
    side = add_pair(merged, other)
    manager = make_staff(role=Role.DEALER_MANAGER, dealer=d)
    return dict(d=d, survivor=survivor, merged=merged, other=other, v1=v1, v2=v2, follower=follower, pair=pair,
                side=side, manager=manager)


def test_merge_moves_everything_and_picks_newest_values(world: dict[str, Any]) -> None:
    w = world
    record = merge.merge_customers(w["manager"], w["survivor"].id, w["merged"].id, pair_id=w["pair"].id, ip="1.2.3.4")
    db.session.remove()
    s = db.session
    surv, gone = s.get(Customer, w["survivor"].id), s.get(Customer, w["merged"].id)
    assert surv is not None and gone is not None
    assert gone.merged_into_id == surv.id
    # merged is newer: its non-empty values win; survivor keeps gender (merged has none)
    assert (surv.name, surv.mobile, surv.city, surv.birthday, surv.external_id) == (
        "章伟", "13900000002", "上海", date(1980, 5, 6), "DMS-7")
    assert surv.gender == Gender.MALE and surv.stage == Stage.OWNER
    assert surv.tags == ["车主", "VIP"]
    assert surv.created_at == w["survivor"].created_at and surv.consent_text == "同意"
    assert gone.mobile is None and gone.external_id is None  # unique values handed over
    for model in TABLES:
        assert s.scalar(sa.select(sa.func.count()).select_from(model).where(model.customer_id == gone.id)) == 0
    vehicles = list(s.scalars(sa.select(Vehicle).where(Vehicle.customer_id == surv.id)))
    # one car typed in on both records: one vehicle row, the keeper filled from its twin
    kept = [(v.id, v.plate, v.vin, v.model) for v in vehicles]
    assert kept == [(w["v1"].id, "沪A12345", "LSVAU2180N2183294", "帕萨特")]
    assert s.get(Vehicle, w["v2"].id) is None
    assert s.scalar(sa.select(RepairOrder.vehicle_id)) == w["v1"].id
    bound = s.scalar(sa.select(CustomerBinding.customer_id).where(CustomerBinding.follower_id == w["follower"].id))
    assert bound == surv.id
    pair, side = s.get(DuplicatePair, w["pair"].id), s.get(DuplicatePair, w["side"].id)
    assert pair is not None and pair.status == PairStatus.MERGED and pair.resolved_by == w["manager"].id
    assert side is not None and (side.first_id, side.second_id) == tuple(sorted((surv.id, w["other"].id)))
    rec = s.get(MergeRecord, record.id)
    assert rec is not None and rec.moved["vehicles"] == [] and rec.before["merged"]["mobile"] == "13900000002"
    assert rec.moved["vehicle_twins"][0]["keeper_id"] == w["v1"].id
    entry = s.scalar(sa.select(TimelineEntry).where(TimelineEntry.kind == "merge"))
    assert entry is not None and entry.customer_id == surv.id and entry.detail["merged_id"] == gone.id
    assert f"#{gone.id}" in entry.detail["text"]
    log = s.scalar(sa.select(AuditLog).where(AuditLog.action == "customer.merge"))
    assert log is not None and log.ip == "1.2.3.4" and log.detail["merged_id"] == gone.id
    snap = s.scalar(sa.select(QualitySnapshot))
    assert snap is not None and snap.figures["customers"] == 3  # automatic "before clean-up" snapshot


def test_unmerge_restores_exactly(world: dict[str, Any]) -> None:
    w = world
    before = full_dump()
    record = merge.merge_customers(w["manager"], w["survivor"].id, w["merged"].id, pair_id=w["pair"].id)
    assert full_dump() != before
    merge_undo.unmerge(w["manager"], record.id, ip="5.6.7.8")
    after = full_dump()
    assert without(after) == without(before)
    kinds = [t["kind"] for t in after["timeline_entries"]]
    assert kinds.count("merge") == 1 and kinds.count("unmerge") == 2
    db.session.remove()
    rec = db.session.get(MergeRecord, record.id)
    assert rec is not None and rec.undone_at is not None and rec.undone_by == w["manager"].id
    assert db.session.scalar(sa.select(AuditLog.detail).where(AuditLog.action == "customer.unmerge"))
    with pytest.raises(merge.MergeRefused, match="already been undone"):
        merge_undo.unmerge(w["manager"], record.id)


def test_unmerge_keeps_changes_made_after_the_merge(world: dict[str, Any]) -> None:
    w = world
    record = merge.merge_customers(w["manager"], w["survivor"].id, w["merged"].id)
    with db.transaction() as s:
        c = s.get(Customer, w["survivor"].id)
        assert c is not None
        c.city = "杭州"
    merge_undo.unmerge(w["manager"], record.id)
    db.session.remove()
    surv = db.session.get(Customer, w["survivor"].id)
    assert surv is not None and surv.city == "杭州" and surv.name == "张伟" and surv.mobile == "13800000001"


def test_unmerge_refused_while_a_later_merge_involves_the_records(world: dict[str, Any]) -> None:
    w = world
    first = merge.merge_customers(w["manager"], w["survivor"].id, w["merged"].id)
    second = merge.merge_customers(w["manager"], w["other"].id, w["survivor"].id)  # survivor merged again
    with pytest.raises(merge.MergeRefused, match="merged again later"):
        merge_undo.unmerge(w["manager"], first.id)
    merge_undo.unmerge(w["manager"], second.id)
    merge_undo.unmerge(w["manager"], first.id)  # latest first, then it works
    db.session.remove()
    assert all(c.merged_into_id is None for c in db.session.scalars(sa.select(Customer)))


def test_merge_refusals(world: dict[str, Any]) -> None:
    w = world
    staff = make_staff(role=Role.DEALER_STAFF, dealer=w["d"])
    with pytest.raises(Forbidden):
        merge.merge_customers(staff, w["survivor"].id, w["merged"].id)
    outsider = make_staff(role=Role.DEALER_MANAGER, dealer=make_dealer())
    with pytest.raises(NotFound):
        merge.merge_customers(outsider, w["survivor"].id, w["merged"].id)
    with pytest.raises(merge.MergeRefused):
        merge.merge_customers(w["manager"], w["survivor"].id, w["survivor"].id)
    merge.merge_customers(w["manager"], w["survivor"].id, w["merged"].id)
    with pytest.raises(merge.MergeRefused, match="already been merged"):
        merge.merge_customers(w["manager"], w["other"].id, w["merged"].id)
    with pytest.raises(NotFound):  # the pair named does not join these two
        merge.merge_customers(w["manager"], w["survivor"].id, w["other"].id, pair_id=w["pair"].id)


def test_tombstone_gives_up_its_mobile_even_when_the_survivor_keeps_its_own(world: dict[str, Any]) -> None:
    w = world
    with db.transaction() as s:
        c = s.get(Customer, w["survivor"].id)
        assert c is not None
        c.updated_at = utcnow() + timedelta(seconds=5)  # the survivor is now the newer record
    record = merge.merge_customers(w["manager"], w["survivor"].id, w["merged"].id)
    db.session.remove()
    surv, gone = db.session.get(Customer, w["survivor"].id), db.session.get(Customer, w["merged"].id)
    assert surv is not None and gone is not None
    assert surv.mobile == "13800000001" and surv.name == "张伟" and surv.city == "上海"  # own values, gaps filled
    assert gone.mobile is None and gone.external_id is None
    assert set(record.moved["_nulled"]) == {"mobile", "external_id"}
    merge_undo.unmerge(w["manager"], record.id)
    db.session.remove()
    gone = db.session.get(Customer, w["merged"].id)
    assert gone is not None and gone.mobile == "13900000002" and gone.external_id == "DMS-7"
