"""PIPL export and erasure, at the service level: what an export holds (and never holds), who may
export, what an erasure removes and keeps, the messages rule, the fingerprints, refusals, and two
erasures racing on PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.db import Base, utcnow
from scrm.models import (
    AuditLog,
    BindingCode,
    Channel,
    ConsentRecord,
    Customer,
    CustomerBinding,
    Delivery,
    DeliveryStatus,
    Direction,
    DuplicatePair,
    Gender,
    MergeRecord,
    MessageLog,
    PairKind,
    PairStatus,
    PrivacyKind,
    PrivacyRequest,
    RepairOrder,
    Role,
    StaffNote,
    StaffUser,
    TimelineEntry,
    Vehicle,
)
from scrm.services import accounts, privacy
from scrm.services import privacy_erase as erasing
from scrm.services import privacy_export as exporting
from scrm.services.customer_profile import add_note
from scrm.services.validation import FormInvalid
from tests.factories import make_dealer, make_follower, make_staff
from tests.integration.customer_support import bind, make_customer, make_repair_order, make_vehicle

pytestmark = pytest.mark.integration

MOBILE = "13812345678"
VIN_A = "LSVAU2180N2183294"
VIN_B = "LSVAU2181N2180001"


def _msg(account_id: int, follower_id: int, content: str, direction: Direction = Direction.IN) -> None:
    with db.transaction() as s:
        s.add(MessageLog(account_id=account_id, follower_id=follower_id, direction=direction, msg_type="text",
                         content=content, created_at=utcnow()))


def _delivery(account_id: int, dealer_id: int, follower_id: int, key: str) -> None:
    with db.transaction() as s:
        s.add(Delivery(account_id=account_id, dealer_id=dealer_id, follower_id=follower_id, dedupe_key=key,
                       channel=Channel.CUSTOM, payload={"text": "张先生您好"}))


def build_world() -> dict[str, Any]:
    """Dealer A with 张伟 (everything attached, one record merged into him) and 李娜; dealer B with a
    similar 张伟; follower f1 bound only at A, follower f2 bound at A and at B."""
    a = make_dealer(code="PA", name="甲店")
    b = make_dealer(code="PB", name="乙店")
    now = utcnow()
    zhang = make_customer(a, name="张伟", mobile=MOBILE, external_id="EXT-001", landline="021-58881234",
                          gender=Gender.MALE, birthday=date(1985, 6, 1), city="上海", source="展厅",
                          tags=["VIP"], consent_at=now, consent_text="同意接收保养提醒")
    v = make_vehicle(zhang, vin=VIN_A, plate="沪A12345", model="帕萨特")
    make_repair_order(zhang, date.today() - timedelta(days=30), vehicle_id=v.id, type="常规保养", amount=680,
                      advisor="陈师傅")
    old = make_customer(a, name="张伟旧档", mobile=None, external_id="EXT-OLD", merged_into_id=zhang.id)
    make_vehicle(old, plate="沪A00001")
    li = make_customer(a, name="李娜", mobile="13900005678")
    make_vehicle(li, plate="沪A55555", vin=VIN_B)
    other = make_customer(b, name="张伟", mobile=MOBILE, external_id="B-EXT-9")
    make_vehicle(other, plate="沪B99999", model="途观L")
    f1 = make_follower(dealer_id=a.id)
    f2 = make_follower(dealer_id=b.id)
    bind(zhang, f1)
    bind(zhang, f2)
    bind(other, f2)
    manager = make_staff(Role.DEALER_MANAGER, dealer=a, display_name="王经理")
    add_note(manager, zhang.id, "客户说下周来做保养")
    with db.transaction() as s:
        s.add(ConsentRecord(account_id=a.account_id, dealer_id=a.id, customer_id=zhang.id, follower_id=f1.id,
                            granted=True, channel="chat", text="同意接收保养提醒"))
        s.add(TimelineEntry(account_id=a.account_id, dealer_id=a.id, customer_id=zhang.id, kind="import.created",
                            title="Created by an import", detail={"file": "客户.csv"}))
        s.add(MergeRecord(account_id=a.account_id, dealer_id=a.id, survivor_id=zhang.id, merged_id=old.id,
                          staff_id=manager.id, before={"merged": {"name": "张伟旧档"}}, moved={"vehicles": []}))
        s.add(DuplicatePair(account_id=a.account_id, dealer_id=a.id, first_id=zhang.id, second_id=li.id,
                            kind=PairKind.FUZZY, score=60, reasons=["similar_name"]))
        s.add(BindingCode(account_id=a.account_id, dealer_id=a.id, customer_id=zhang.id, token="tok-zhang",
                          expires_at=now + timedelta(days=1)))
    _msg(a.account_id, f1.id, "我的车牌是沪A12345")
    _msg(a.account_id, f1.id, "您好，已为您预约", Direction.OUT)
    _msg(a.account_id, f2.id, "乙店也有我的档案")
    _delivery(a.account_id, a.id, f1.id, "t:a:f1")
    _delivery(a.account_id, b.id, f2.id, "t:b:f2")
    return {"a": a, "b": b, "zhang": zhang, "old": old, "li": li, "other": other, "f1": f1, "f2": f2,
            "manager": manager, "vehicle": v}


@pytest.fixture
def world(app: Any) -> dict[str, Any]:
    return build_world()


def _zip(blob: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _count(model: type[Any], *where: Any) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


def test_export_holds_every_kind_of_data_and_nothing_of_another_dealer(world: dict[str, Any]) -> None:
    result = exporting.export_customer(world["manager"], world["zhang"].id, "客户到店申请", language="zh")
    files = _zip(result.data)
    assert {"README.txt", "customer.json", "customer.csv", "vehicles.csv", "repair_orders.csv", "timeline.csv",
            "staff_notes.csv", "wechat_bindings.csv", "consent_records.csv", "wechat_messages.csv",
            "merges.csv"} <= set(files)
    doc = json.loads(files["customer.json"])
    assert doc["customer"][0]["mobile"] == MOBILE  # whole number: it is the customer's own data
    assert doc["customer"][0]["external_id"] == "EXT-001"
    assert [v["vin"] for v in doc["vehicles"]] == [VIN_A]
    assert doc["repair_orders"][0]["advisor"] == "陈师傅"
    assert {e["kind"] for e in doc["timeline"]} == {"note", "import.created"}
    assert doc["staff_notes"][0]["text"] == "客户说下周来做保养" and doc["staff_notes"][0]["staff"] == "王经理"
    assert sorted(b["openid"] for b in doc["wechat_bindings"]) == sorted([world["f1"].openid, world["f2"].openid])
    assert all(b["method"] == "chat" and b["bound_at"] for b in doc["wechat_bindings"])
    assert doc["consent_records"][0]["text"] == "同意接收保养提醒"
    assert sorted(m["content"] for m in doc["messages"]) == sorted(["我的车牌是沪A12345", "您好，已为您预约",
                                                                     "乙店也有我的档案"])
    assert doc["merges"][0]["merged_id"] == world["old"].id
    assert doc["messages_capped"] is False
    assert result.counts["vehicles"] == 1 and result.counts["messages"] == 3
    everything = b"".join(files.values()).decode("utf-8")
    for foreign in ("沪B99999", "B-EXT-9", "乙店", "途观L", "李娜", "沪A55555"):
        if foreign == "乙店":  # the customer's own WeChat message mentions it; nothing else may
            assert everything.count(foreign) == 2  # customer.json + wechat_messages.csv
            continue
        assert foreign not in everything, foreign
    rows = list(csv.reader(io.StringIO(files["customer.csv"].decode("utf-8-sig"))))
    assert rows[0][:5] == ["客户编号", "经销商", "经销商系统编号", "名称", "手机号"]  # headers in the staff's language
    assert rows[1][4] == MOBILE
    assert "甲店" in files["README.txt"].decode() and "各文件行数" in files["README.txt"].decode()


def test_export_headers_follow_the_language(world: dict[str, Any]) -> None:
    files = _zip(exporting.export_customer(world["manager"], world["zhang"].id, "request", language="en").data)
    header = files["vehicles.csv"].decode("utf-8-sig").splitlines()[0]
    assert header.startswith("Vehicle no.,VIN,Licence plate")


def test_export_caps_the_message_log(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exporting, "MESSAGE_CAP", 2)
    result = exporting.export_customer(world["manager"], world["zhang"].id, "request", language="zh")
    files = _zip(result.data)
    doc = json.loads(files["customer.json"])
    assert len(doc["messages"]) == 2 and doc["messages_total"] == 3 and doc["messages_capped"] is True
    assert "仅包含最新的 2 条" in files["README.txt"].decode()


def test_export_is_recorded_and_audited(world: dict[str, Any]) -> None:
    exporting.export_customer(world["manager"], world["zhang"].id, "客户到店申请", ip="10.0.0.9")
    req = db.session.scalars(sa.select(PrivacyRequest)).one()
    assert (req.kind, req.customer_id, req.staff_id, req.reason) == (
        PrivacyKind.EXPORT, world["zhang"].id, world["manager"].id, "客户到店申请")
    assert req.detail["counts"]["repair_orders"] == 1
    entry = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "privacy.export")).one()
    assert entry.target_id == str(world["zhang"].id) and entry.ip == "10.0.0.9"


def test_export_refused_for_dealer_staff_and_without_reason(world: dict[str, Any]) -> None:
    clerk = make_staff(Role.DEALER_STAFF, dealer=world["a"])
    with pytest.raises(privacy.PrivacyForbidden):
        exporting.export_customer(clerk, world["zhang"].id, "客户到店申请")
    with pytest.raises(FormInvalid) as info:
        exporting.export_customer(world["manager"], world["zhang"].id, "   ")
    assert info.value.field == "reason"
    assert _count(PrivacyRequest) == 0
    assert _count(AuditLog, AuditLog.action.like("privacy.%")) == 0


def _erase(world: dict[str, Any], **kw: Any) -> PrivacyRequest:
    args: dict[str, Any] = {"confirm": str(world["zhang"].id), "reason": "客户书面申请删除"} | kw
    return erasing.erase_customer(world["manager"], world["zhang"].id, **args)


def test_erasure_removes_every_personal_field_and_dependent_row(world: dict[str, Any]) -> None:
    zhang, old, f1 = world["zhang"], world["old"], world["f1"]
    plan = erasing.preview(world["manager"], zhang.id)
    assert plan.customer_ids == [zhang.id, old.id] and plan.counts["vehicles"] == 2
    req = _erase(world)
    db.session.expire_all()
    for c in (db.session.get(Customer, zhang.id), db.session.get(Customer, old.id)):
        assert c is not None and c.erased_at is not None
        assert (c.name, c.mobile, c.landline, c.gender, c.birthday, c.city, c.external_id, c.source,
                c.consent_at, c.consent_text, c.tags) == (None,) * 10 + ([],)
    ids = [zhang.id, old.id]
    for model in (Vehicle, RepairOrder, TimelineEntry, StaffNote, CustomerBinding, ConsentRecord):
        assert _count(model, model.customer_id.in_(ids)) == 0, model.__name__
    pair = db.session.scalars(sa.select(DuplicatePair)).one()
    assert pair.status == PairStatus.DISMISSED and pair.resolved_by == world["manager"].id
    assert db.session.scalars(sa.select(MergeRecord)).one().before == {}
    assert db.session.scalars(sa.select(BindingCode)).one().revoked_at is not None
    statuses = {d.dedupe_key: d.status for d in db.session.scalars(sa.select(Delivery))}
    assert statuses == {"t:a:f1": DeliveryStatus.CANCELLED, "t:b:f2": DeliveryStatus.PENDING}
    note_audit = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "customer.note")).one()
    assert "客户说下周" not in json.dumps(note_audit.detail, ensure_ascii=False)
    # the record of the erasure holds counts and fingerprints, never the data
    assert req.kind == PrivacyKind.ERASE and req.reason == "客户书面申请删除"
    assert req.detail["counts"]["vehicles"] == 2 and req.detail["counts"]["deliveries_cancelled"] == 1
    dumped = json.dumps(req.detail, ensure_ascii=False)
    for personal in (MOBILE, "EXT-001", "张伟", "沪A12345", VIN_A, f1.openid):
        assert personal not in dumped
    assert db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "privacy.erase")).one().target_id == str(
        zhang.id)
    # messages were not asked for: kept
    assert _count(MessageLog, MessageLog.content != "") == 3


def test_erasure_leaves_other_customers_and_dealers_alone(world: dict[str, Any]) -> None:
    _erase(world, erase_messages=True)
    db.session.expire_all()
    li = db.session.get(Customer, world["li"].id)
    other = db.session.get(Customer, world["other"].id)
    assert li is not None and li.name == "李娜" and li.erased_at is None
    assert other is not None and (other.name, other.mobile, other.external_id) == ("张伟", MOBILE, "B-EXT-9")
    assert _count(Vehicle, Vehicle.customer_id == li.id) == 1
    assert _count(Vehicle, Vehicle.customer_id == other.id) == 1
    assert _count(CustomerBinding, CustomerBinding.customer_id == other.id) == 1


def test_messages_erased_only_when_ticked_and_not_bound_elsewhere(world: dict[str, Any]) -> None:
    req = _erase(world, erase_messages=True)
    contents = {(m.follower_id, m.msg_type, m.content) for m in db.session.scalars(sa.select(MessageLog))}
    f1, f2 = world["f1"].id, world["f2"].id
    assert contents == {(f1, "text", ""), (f2, "text", "乙店也有我的档案")}
    assert req.detail["counts"]["messages_blanked"] == 2 and req.detail["followers_kept_messages"] == 1


def test_erased_identity_recognises_the_erased_person_only(world: dict[str, Any]) -> None:
    a, b = world["a"].id, world["b"].id
    assert not privacy.erased_identity(a, MOBILE, None)
    _erase(world)
    assert privacy.erased_identity(a, MOBILE, None)
    assert privacy.erased_identity(a, "+86 138-1234-5678", None)  # normalised like the import does
    assert privacy.erased_identity(a, None, " EXT-001 ")
    assert privacy.erased_identity(a, None, "EXT-OLD")  # the merged record went with it
    assert privacy.erased_identity(a, "021-5888 1234", None)  # the landline too
    assert not privacy.erased_identity(a, "13900005678", "EXT-002")
    assert not privacy.erased_identity(a, None, None)
    assert not privacy.erased_identity(b, MOBILE, "EXT-001")  # another dealer's customer is another record
    ids = privacy.erased_identities(a)
    assert ids.matches("13812345678", None) and not ids.matches("13812345679", "nope")


def test_confirmation_mismatch_or_empty_reason_changes_nothing(world: dict[str, Any]) -> None:
    zhang = world["zhang"]
    with pytest.raises(FormInvalid) as info:
        _erase(world, confirm=str(zhang.id + 1), reason="  ")
    assert {p.field for p in info.value.problems} == {"confirm", "reason"}
    with pytest.raises(FormInvalid):
        _erase(world, confirm="")
    db.session.expire_all()
    c = db.session.get(Customer, zhang.id)
    assert c is not None and c.name == "张伟" and c.erased_at is None
    assert _count(Vehicle, Vehicle.customer_id == zhang.id) == 1
    assert _count(PrivacyRequest) == 0


def test_refusals_merged_record_already_erased_and_roles(world: dict[str, Any]) -> None:
    with pytest.raises(erasing.MergedAway) as info:
        erasing.erase_customer(world["manager"], world["old"].id, confirm=str(world["old"].id), reason="x")
    assert info.value.params == {"id": world["zhang"].id}
    clerk = make_staff(Role.DEALER_STAFF, dealer=world["a"])
    with pytest.raises(privacy.PrivacyForbidden):
        erasing.erase_customer(clerk, world["zhang"].id, confirm=str(world["zhang"].id), reason="x")
    _erase(world)
    with pytest.raises(privacy.AlreadyErased):
        _erase(world)
    with pytest.raises(privacy.AlreadyErased):
        exporting.export_customer(world["manager"], world["zhang"].id, "again")
    assert _count(PrivacyRequest) == 1


def test_two_erasures_racing_record_one(world: dict[str, Any]) -> None:
    if not db.is_postgres():
        pytest.skip("row locks need PostgreSQL")
    staff_id, customer_id = world["manager"].id, world["zhang"].id
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run() -> None:
        try:
            staff = db.session.get(StaffUser, staff_id)
            assert staff is not None
            barrier.wait()
            erasing.erase_customer(staff, customer_id, confirm=str(customer_id), reason="race")
            outcomes.append("erased")
        except privacy.AlreadyErased:
            outcomes.append("already")
        finally:
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["already", "erased"]
    assert _count(PrivacyRequest, PrivacyRequest.kind == PrivacyKind.ERASE) == 1


@pytest.fixture
def on_sqlite(app: Any, database_url: str, tmp_path: Path) -> Iterator[None]:
    """A fresh SQLite file for one test (the `scrm demo` database), then back to PostgreSQL."""
    Base.metadata.create_all(db.init_engine(f"sqlite:///{tmp_path / 'demo.db'}"))
    accounts.forget_cache()
    try:
        yield
    finally:
        db.init_engine(database_url)
        accounts.forget_cache()


def test_export_and_erase_on_sqlite(on_sqlite: None) -> None:
    assert not db.is_postgres()
    world = build_world()
    files = _zip(exporting.export_customer(world["manager"], world["zhang"].id, "demo", language="zh").data)
    assert json.loads(files["customer.json"])["customer"][0]["mobile"] == MOBILE
    req = _erase(world, erase_messages=True)
    assert req.detail["counts"]["messages_blanked"] == 2
    db.session.expire_all()
    assert db.session.get(Customer, world["zhang"].id).name is None  # type: ignore[union-attr]
    assert _count(Vehicle, Vehicle.customer_id == world["zhang"].id) == 0
    assert privacy.erased_identity(world["a"].id, MOBILE, None)
