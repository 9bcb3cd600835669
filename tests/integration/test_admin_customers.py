"""The customer list and the 360 view: search by every key, keyset pages, masking per role,
notes and tags with validation and audit, and dealer isolation."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.db import utcnow
from scrm.models import AuditLog, Customer, Direction, MessageLog, Role, StaffNote, Stage, TimelineEntry
from scrm.services.normalize import vin_check_digit
from tests.factories import make_dealer, make_follower
from tests.integration.admin_support import post, signed_in, text
from tests.integration.customer_support import bind, make_customer, make_repair_order, make_vehicle

pytestmark = pytest.mark.integration


def a_vin(stem: str = "LSVAU218", tail: str = "N2183294") -> str:
    """A VIN with a correct check digit."""
    return stem + vin_check_digit(stem + "0" + tail) + tail


def _names(html: str) -> list[str]:
    """Customer names in the list, in order."""
    return re.findall(r'data-customer="\d+">\s*<td><a href="[^"]+">([^<]+)</a>', html)


def _ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-customer="(\d+)"', html)]


def _next(html: str) -> str | None:
    m = re.search(r'href="([^"]+)" rel="next"', html)
    return m.group(1).replace("&amp;", "&") if m else None


@pytest.fixture
def world(app: Any) -> dict[str, Any]:
    a = make_dealer(code="CA", name="甲店")
    b = make_dealer(code="CB", name="乙店")
    zhang = make_customer(a, name="张伟", mobile="13812345678")
    make_vehicle(zhang, plate="沪A12345", vin=a_vin(), model="帕萨特")
    li = make_customer(a, name="李娜", mobile="13900005678", stage=Stage.OWNER)
    make_vehicle(li, plate="沪AD12345", model="ID.4")
    zhao = make_customer(a, name="张三丰", mobile="13711112222", landline="021-58881234")
    other = make_customer(b, name="张乙店", mobile="13812345679")
    make_vehicle(other, plate="沪B54321", model="帕萨特")
    return {"a": a, "b": b, "zhang": zhang, "li": li, "zhao": zhao, "other": other}


@pytest.mark.parametrize(("q", "expected"), [
    ("张", ["张三丰", "张伟"]),                 # name prefix
    ("张伟", ["张伟"]),
    ("伟", []),                                 # prefix only, not contains
    ("13812345678", ["张伟"]),                  # whole mobile
    ("+86 138-1234-5678", ["张伟"]),            # normalised
    ("5678", ["李娜", "张伟"]),                  # last 4 digits
    ("1381234567", []),                         # 10 digits: not a mobile, no fuzzy match
    ("沪a 12345", ["张伟"]),                     # plate, normalised
    ("沪AD12345", ["李娜"]),                     # new-energy plate
    ("沪B54321", []),                           # dealer B's plate: not in dealer A's scope
    (a_vin().lower(), ["张伟"]),                 # VIN, normalised
    ("021-58881234", ["张三丰"]),                # landline
])
def test_search_by_each_key(client: Any, world: dict[str, Any], q: str, expected: list[str]) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=world["a"])
    html = text(client.get("/admin/customers/", query_string={"q": q}))
    assert sorted(_names(html)) == sorted(expected)
    assert "张乙店" not in html


def test_filters(client: Any, world: dict[str, Any]) -> None:
    follower = make_follower(dealer_id=world["a"].id)
    bind(world["li"], follower)
    signed_in(client, Role.DEALER_STAFF, dealer=world["a"])
    assert _names(text(client.get("/admin/customers/?stage=owner"))) == ["李娜"]
    assert _names(text(client.get("/admin/customers/?bound=yes"))) == ["李娜"]
    assert sorted(_names(text(client.get("/admin/customers/?bound=no")))) == ["张三丰", "张伟"]
    html = text(client.get("/admin/customers/", query_string={"model": "帕萨特"}))
    assert _names(html) == ["张伟"]
    assert '<option value="ID.4">' in html and "帕萨特" in html
    assert sorted(_names(text(client.get("/admin/customers/?stage=bogus&bound=maybe")))) == [
        "张三丰", "张伟", "李娜"]


def test_list_columns(client: Any, world: dict[str, Any]) -> None:
    make_vehicle(world["zhang"], plate="沪C88888", last_service_date=date(2024, 3, 1))
    make_repair_order(world["zhang"], date(2024, 5, 6))
    signed_in(client, Role.DEALER_MANAGER, dealer=world["a"])
    html = text(client.get("/admin/customers/?q=张伟"))
    row = html[html.index(f'data-customer="{world["zhang"].id}"'):]
    row = row[:row.index("</tr>")]
    assert "13812345678" in row and "沪A12345" in row and "沪C88888" in row
    assert "2024-05-06" in row  # the later of vehicle service date and repair orders
    assert "未绑定" in row


def test_keyset_pages_have_no_duplicates_or_gaps(client: Any, app: Any) -> None:
    dealer = make_dealer()
    same = utcnow().replace(microsecond=123456)
    ids = []
    for i in range(123):  # many share one updated_at: the id breaks the tie
        at = same if i % 3 else same - timedelta(seconds=i)
        ids.append(make_customer(dealer, name=f"客户{i:03d}", updated_at=at).id)
    signed_in(client, Role.DEALER_STAFF, dealer=dealer)
    url: str | None = "/admin/customers/"
    seen: list[int] = []
    pages = 0
    while url:
        resp = client.get(url)
        assert resp.status_code == 200
        html = text(resp)
        page_ids = _ids(html)
        assert len(page_ids) <= 50
        seen += page_ids
        url = _next(html)
        pages += 1
        assert pages < 10
    assert pages == 3
    assert len(seen) == len(set(seen)) == 123
    assert set(seen) == set(ids)
    with app.app_context():
        rows = db.session.execute(sa.select(Customer.id, Customer.updated_at)).all()
    order = [r.id for r in sorted(rows, key=lambda r: (r.updated_at, r.id), reverse=True)]
    assert seen == order
    sql, offsets = _list_sql(app, dealer)
    # no page skips rows by counting them: PostgreSQL's SQL has no OFFSET at all; SQLAlchemy's SQLite compiler
    # writes `LIMIT ? OFFSET ?` after every LIMIT, so there the offset must be 0
    assert "OFFSET" not in sql or offsets == [0]


def _list_sql(app: Any, dealer: Any) -> tuple[str, list[Any]]:
    from scrm.services.customer_admin import Cursor, CustomerFilter, list_customers
    from scrm.services.scope import Scope

    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        captured.append((statement, parameters))

    with app.app_context():
        sa.event.listen(db.engine(), "before_cursor_execute", capture)
        try:
            scope = Scope(account_id=dealer.account_id, dealer_id=dealer.id, role=Role.DEALER_STAFF)
            list_customers(scope, CustomerFilter(), Cursor(utcnow(), 10**9))
        finally:
            sa.event.remove(db.engine(), "before_cursor_execute", capture)
    listing = [(s.upper(), params) for s, params in captured if "customers" in s]
    # the offset is the statement's last parameter where SQLite writes `OFFSET ?`
    offsets = [params[-1] for s, params in listing if s.rstrip().endswith("OFFSET ?")]
    return " ".join(s for s, _params in listing), offsets


def test_bad_cursor_shows_the_first_page(client: Any, world: dict[str, Any]) -> None:
    signed_in(client, Role.DEALER_STAFF, dealer=world["a"])
    for after in ("garbage", "99999999999999999999.1", "-1.x", "1.2.3"):
        resp = client.get("/admin/customers/", query_string={"after": after})
        assert resp.status_code == 200
        assert len(_ids(text(resp))) == 3


@pytest.mark.parametrize(("role", "masked"), [
    (Role.DEALER_STAFF, True), (Role.DEALER_MANAGER, False), (Role.BRAND_ADMIN, False)])
def test_mobile_masking_per_role(client: Any, world: dict[str, Any], role: Role, masked: bool) -> None:
    signed_in(client, role, dealer=world["a"])
    listing = text(client.get("/admin/customers/?q=张"))
    page = text(client.get(f"/admin/customers/{world['zhao'].id}"))
    for html in (listing, page):
        if masked:
            assert "13711112222" not in html and "137****2222" in html
        else:
            assert "13711112222" in html and "137****2222" not in html
    if masked:
        assert "021-58881234" not in page and "021****1234" in page
    # searching by the whole number still works for masked roles
    assert _names(text(client.get("/admin/customers/?q=13711112222"))) == ["张三丰"]


def test_brand_admin_sees_every_dealer_and_can_narrow(client: Any, world: dict[str, Any]) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    html = text(client.get("/admin/customers/?q=张"))
    assert sorted(_names(html)) == ["张三丰", "张乙店", "张伟"]
    assert "乙店" in html
    narrowed = text(client.get(f"/admin/customers/?q=张&dealer={world['b'].id}"))
    assert _names(narrowed) == ["张乙店"]


def test_360_view_shows_everything(client: Any, world: dict[str, Any]) -> None:
    c = world["zhang"]
    today = date.today()
    make_vehicle(c, plate="沪C88888", model="途观L", mileage=23456, mileage_date=date(2024, 6, 1),
                 insurance_expiry=today + timedelta(days=10), warranty_expiry=today - timedelta(days=3))
    make_repair_order(c, date(2024, 5, 6), type="首保", amount=480, advisor="陈师傅")
    follower = make_follower(dealer_id=world["a"].id, openid="oABCDEFGH_1234567890_wxyz")
    bind(c, follower)
    now = utcnow()
    with db.transaction() as s:
        s.add(TimelineEntry(account_id=c.account_id, dealer_id=c.dealer_id, customer_id=c.id,
                            kind="import.created", title="Imported from a file",
                            detail={"file": "客户.csv", "line": 7, "fields": []}, occurred_at=now - timedelta(hours=2)))
        s.add(MessageLog(account_id=c.account_id, follower_id=follower.id, direction=Direction.IN,
                         msg_type="text", content="保养要多少钱", created_at=now - timedelta(hours=1)))
        s.add(MessageLog(account_id=c.account_id, follower_id=follower.id, direction=Direction.OUT,
                         msg_type="text", content="首保免费", created_at=now - timedelta(minutes=30)))
    signed_in(client, Role.DEALER_STAFF, dealer=world["a"])
    html = text(client.get(f"/admin/customers/{c.id}"))
    for needle in ("张伟", "沪A12345", a_vin(), "帕萨特", "途观L", "23,456", "2024-06-01", "即将到期", "已过期",
                   "首保", "陈师傅", "¥480.00", "oABCDEFG…wxyz", "已关注", "客户.csv"):
        assert needle in html, needle
    assert "oABCDEFGH_1234567890_wxyz\"" not in html.replace('title="oABCDEFGH_1234567890_wxyz"', "")
    timeline = html[html.index('class="timeline"'):]
    assert timeline.index("首保免费") < timeline.index("保养要多少钱") < timeline.index("客户.csv")
    assert "编辑标签" not in html  # dealer staff may not edit tags


def test_timeline_pages(client: Any, world: dict[str, Any]) -> None:
    c = world["li"]
    now = utcnow()
    with db.transaction() as s:
        for i in range(35):
            s.add(TimelineEntry(account_id=c.account_id, dealer_id=c.dealer_id, customer_id=c.id, kind="note",
                                title="Staff note", detail={"text": f"备注{i:02d}"},
                                occurred_at=now - timedelta(minutes=i)))
    signed_in(client, Role.DEALER_STAFF, dealer=world["a"])
    first = text(client.get(f"/admin/customers/{c.id}"))
    second = text(client.get(f"/admin/customers/{c.id}?page=2"))
    assert "备注00" in first and "备注29" in first and "备注30" not in first
    assert "备注30" in second and "备注34" in second and "备注00" not in second


def test_staff_adds_a_note(client: Any, world: dict[str, Any]) -> None:
    c = world["zhang"]
    staff = signed_in(client, Role.DEALER_STAFF, dealer=world["a"], display_name="小王")
    resp = post(client, f"/admin/customers/{c.id}/notes", {"text": "  客户想周六来试驾ID.4\r\n带家人  "})
    assert resp.status_code == 303
    html = text(client.get(resp.headers["Location"]))
    assert "备注已添加到客户动态" in html and "客户想周六来试驾ID.4\n带家人" in html and "小王" in html
    db.session.remove()
    note = db.session.scalars(sa.select(StaffNote)).one()
    assert (note.customer_id, note.staff_id, note.dealer_id) == (c.id, staff.id, c.dealer_id)
    entry = db.session.scalars(sa.select(TimelineEntry).where(TimelineEntry.kind == "note")).one()
    assert entry.detail["note_id"] == note.id
    log = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "customer.note")).one()
    assert (log.staff_id, log.target_id, log.dealer_id) == (staff.id, str(c.id), c.dealer_id)


@pytest.mark.parametrize(("note", "message"), [
    ("   ", "请先填写备注内容"), ("长" * 2001, "备注最多 2000 个字"), ("a\x07b", "控制字符")])
def test_bad_note_changes_nothing(client: Any, world: dict[str, Any], note: str, message: str) -> None:
    signed_in(client, Role.DEALER_STAFF, dealer=world["a"])
    resp = post(client, f"/admin/customers/{world['zhang'].id}/notes", {"text": note})
    assert resp.status_code == 422
    assert message in text(resp)
    db.session.remove()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffNote)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "customer.note")) == 0


def test_manager_edits_tags(client: Any, world: dict[str, Any]) -> None:
    c = world["zhang"]
    before = c.updated_at
    signed_in(client, Role.DEALER_MANAGER, dealer=world["a"])
    resp = post(client, f"/admin/customers/{c.id}/tags", {"tags": " 老客户，VIP、 ＶＩＰ ,, 置换  意向 "})
    assert resp.status_code == 303
    db.session.remove()
    row = db.session.get(Customer, c.id)
    assert row is not None and row.tags == ["老客户", "VIP", "置换 意向"]
    assert row.updated_at > before
    log = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "customer.tags")).one()
    assert log.detail == {"before": [], "after": ["老客户", "VIP", "置换 意向"]}
    # the same tags again: nothing to record
    post(client, f"/admin/customers/{c.id}/tags", {"tags": "老客户, VIP, 置换 意向"})
    db.session.remove()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "customer.tags")) == 1
    assert "老客户" in text(client.get(f"/admin/customers/?q={c.name}"))


@pytest.mark.parametrize(("tags", "message"), [
    (",".join(f"标签{i}" for i in range(21)), "最多 20 个标签"),
    ("这是一个超过二十个字的非常非常长的客户标签啊", "超过了 20 个字"),
    ("ok,a\x00b", "控制字符")])
def test_bad_tags_change_nothing(client: Any, world: dict[str, Any], tags: str, message: str) -> None:
    c = world["zhang"]
    signed_in(client, Role.BRAND_ADMIN)
    resp = post(client, f"/admin/customers/{c.id}/tags", {"tags": tags})
    assert resp.status_code == 422
    assert message in text(resp)
    db.session.remove()
    row = db.session.get(Customer, c.id)
    assert row is not None and row.tags == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "customer.tags")) == 0


def test_dealer_staff_cannot_edit_tags(client: Any, world: dict[str, Any]) -> None:
    c = world["zhang"]
    signed_in(client, Role.DEALER_STAFF, dealer=world["a"])
    resp = post(client, f"/admin/customers/{c.id}/tags", {"tags": "VIP"})
    assert resp.status_code == 403
    db.session.remove()
    row = db.session.get(Customer, c.id)
    assert row is not None and row.tags == []


@pytest.mark.parametrize("role", [Role.DEALER_STAFF, Role.DEALER_MANAGER])
def test_another_dealers_customer_is_404_everywhere(client: Any, world: dict[str, Any], role: Role) -> None:
    other = world["other"]
    signed_in(client, role, dealer=world["a"])
    assert client.get(f"/admin/customers/{other.id}").status_code == 404
    assert post(client, f"/admin/customers/{other.id}/notes", {"text": "hacked"}).status_code == 404
    assert post(client, f"/admin/customers/{other.id}/tags", {"tags": "hacked"}).status_code == 404
    assert client.get("/admin/customers/999999").status_code == 404
    db.session.remove()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffNote)) == 0
    row = db.session.get(Customer, other.id)
    assert row is not None and row.tags == []


def test_tag_service_and_erased_filters(client: Any, world: dict[str, Any], app: Any) -> None:
    today = utcnow().date()
    with app.app_context(), db.transaction() as s:
        s.get(Customer, world["zhang"].id).tags = ["试驾过", "金融客户"]
        s.get(Customer, world["li"].id).tags = ["置换意向"]
        s.get(Customer, world["zhao"].id).tags = ["车友会"]
    make_repair_order(world["zhang"], today - timedelta(days=30))          # serviced recently
    make_vehicle(world["li"], plate="沪A77777", last_service_date=today - timedelta(days=250))  # 8 months ago
    signed_in(client, Role.DEALER_STAFF, dealer=world["a"])

    def names(**q: str) -> list[str]:
        return sorted(_names(text(client.get("/admin/customers/", query_string=q))))

    assert names(tags="试驾过") == ["张伟"]
    assert names(tags="置换意向, 试驾过") == ["张伟", "李娜"]              # any of
    assert names(tags="置换意向，车友会") == ["张三丰", "李娜"]             # full-width comma too
    assert names(tags="没有的标签") == []
    assert names(service="6m") == ["李娜"]
    assert names(service="12m") == []
    assert names(service="never") == ["张三丰"]
    assert names(service="never", tags="车友会", q="张") == ["张三丰"]    # combined with search
    assert names(service="bogus") == ["张三丰", "张伟", "李娜"]
    html = text(client.get("/admin/customers/?service=6m&tags=置换意向"))
    assert '<option value="6m" selected>' in html and 'value="置换意向"' in html
    assert "/admin/customers/export.csv?" in html and "service=6m" in html
    with app.app_context(), db.transaction() as s:
        s.get(Customer, world["li"].id).erased_at = utcnow()
    assert names() == ["张三丰", "张伟"]                                   # erased customers are hidden
    assert names(q="13900005678") == []


def _export(client: Any, **q: str) -> list[list[str]]:
    import csv
    import io

    resp = client.get("/admin/customers/export.csv", query_string=q)
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    body = resp.data.decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_export_masks_for_dealer_staff_respects_filters_and_scope_and_is_audited(
        client: Any, world: dict[str, Any], app: Any) -> None:
    staff = signed_in(client, Role.DEALER_STAFF, dealer=world["a"])
    rows = _export(client, q="张")
    assert rows[0][:3] == ["客户姓名", "手机号", "固定电话"] and "经销商" not in rows[0]
    assert sorted(r[0] for r in rows[1:]) == ["张三丰", "张伟"]           # the filter, not dealer B's 张乙店
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["张伟"][1] == "138****5678" and "13812345678" not in str(rows)
    assert "沪A12345" in by_name["张伟"] and "帕萨特" in by_name["张伟"]
    with app.app_context():
        entry = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "customer.export")).one()
        assert entry.staff_id == staff.id and entry.detail["rows"] == 2
        assert entry.detail["filters"] == {"q": "张"} and entry.detail["truncated"] is False


def test_export_whole_numbers_for_managers_and_dealer_column_for_brand_admins(
        client: Any, world: dict[str, Any], app: Any) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=world["a"])
    rows = _export(client, stage="owner")
    assert [r[0] for r in rows[1:]] == ["李娜"] and rows[1][1] == "13900005678"
    admin = app.test_client()
    signed_in(admin, Role.BRAND_ADMIN)
    rows = _export(admin, q="张")
    assert "经销商" in rows[0]
    dealer_col = rows[0].index("经销商")
    assert {r[0]: r[dealer_col] for r in rows[1:]} == {"张三丰": "甲店", "张伟": "甲店", "张乙店": "乙店"}


def test_export_is_capped_and_says_so(app: Any, world: dict[str, Any]) -> None:
    from scrm.services.customer_admin import CustomerFilter
    from scrm.services.customer_export import export_csv
    from tests.factories import make_staff

    staff = make_staff(role=Role.DEALER_MANAGER, dealer=world["a"])
    with app.app_context(), app.test_request_context():
        body = "".join(export_csv(staff, CustomerFilter(), lambda m: m, cap=2))
        lines = body.strip().splitlines()
        assert len(lines) == 4 and "Only the first 2 customers" in lines[-1]
        entry = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "customer.export")).one()
        assert entry.detail["rows"] == 2 and entry.detail["truncated"] is True


def test_export_of_formula_like_cells_is_defused(client: Any, world: dict[str, Any]) -> None:
    make_customer(world["a"], name="=HYPERLINK(1)", mobile="13600001111")
    signed_in(client, Role.DEALER_MANAGER, dealer=world["a"])
    rows = _export(client, q="=HYP")
    assert rows[1][0] == "'=HYPERLINK(1)"
