"""Members in the admin: scoping, list filters, the ledger page, adjustments and the tiers editor."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, EntryKind, Member, PointsEntry, Role, Tier, Trigger
from scrm.services import ledger
from tests.factories import make_dealer
from tests.integration.admin_support import csrf_from, post, signed_in, text
from tests.integration.customer_support import bind, make_customer
from tests.integration.loyalty_support import make_member, make_tiers

pytestmark = pytest.mark.integration


def _earn(member_id: int, points: int, key: str, trigger: Trigger = Trigger.CHECKIN, **kw: Any) -> None:
    with db.transaction() as s:
        ledger.earn_in(s, member_id, trigger, key=key, source="member", points=points, **kw)


def _fresh(member_id: int) -> Member:
    db.session.remove()
    m = db.session.get(Member, member_id)
    assert m is not None
    return m


def _ids(html: str) -> set[int]:
    return {int(x) for x in re.findall(r'data-member="(\d+)"', html)}


def test_dealer_sees_own_and_bound_members_only(app: Any, client: Any) -> None:
    a, b = make_dealer(), make_dealer()
    own = make_member(dealer_id=a.id, remark="本店会员")
    bound = make_member(dealer_id=b.id, remark="绑定会员")
    other = make_member(dealer_id=b.id, remark="他店会员")
    bind(make_customer(a, name="张三", mobile="13800001234"), _follower(bound))
    signed_in(client, Role.DEALER_STAFF, dealer=a)
    page = text(client.get("/admin/members/"))
    assert _ids(page) == {own.id, bound.id}
    assert "他店会员" not in page
    assert "138****1234" in page and "13800001234" not in page  # staff see masked phones
    assert client.get(f"/admin/members/{other.id}").status_code == 404
    assert client.get(f"/admin/members/{bound.id}").status_code == 200
    assert client.get("/admin/members/tiers").status_code == 403
    # dealer staff may not adjust; nothing is written
    resp = post(client, f"/admin/members/{own.id}/adjust", {"points": "50", "note": "x", "key": "k" * 24})
    assert resp.status_code == 403
    assert _fresh(own.id).balance == 0


def _follower(m: Member) -> Any:
    from scrm.models import Follower

    f = db.session.get(Follower, m.follower_id)
    assert f is not None
    return f


def test_list_filters(app: Any, client: Any) -> None:
    d = make_dealer()
    silver, gold, _plat = make_tiers()
    rich = make_member(dealer_id=d.id, remark="老王")
    poor = make_member(dealer_id=d.id, remark="小李")
    named = make_member(dealer_id=d.id)
    _earn(rich.id, 1500, "t:rich")
    _earn(poor.id, 30, "t:poor")
    bind(make_customer(d, name="赵六", mobile="13911115678"), _follower(named))
    signed_in(client, Role.BRAND_ADMIN)
    assert _ids(text(client.get("/admin/members/"))) == {rich.id, poor.id, named.id}
    assert _ids(text(client.get("/admin/members/", query_string={"tier": gold.id}))) == {rich.id}
    assert _ids(text(client.get("/admin/members/", query_string={"tier": silver.id}))) == {poor.id}
    assert _ids(text(client.get("/admin/members/", query_string={"min": 100}))) == {rich.id}
    assert _ids(text(client.get("/admin/members/", query_string={"min": 1, "max": 100}))) == {poor.id}
    assert _ids(text(client.get("/admin/members/", query_string={"q": "老王"}))) == {rich.id}
    assert _ids(text(client.get("/admin/members/", query_string={"q": "5678"}))) == {named.id}
    assert _ids(text(client.get("/admin/members/", query_string={"q": "赵"}))) == {named.id}
    openid = _follower(poor).openid
    assert _ids(text(client.get("/admin/members/", query_string={"q": openid[7:13]}))) == {poor.id}
    assert _ids(text(client.get("/admin/members/", query_string={"q": "nobody-here", "min": "abc"}))) == set()
    body = text(client.get("/admin/members/"))
    assert openid not in body  # openids are shown masked


def test_ledger_page_shows_entries_in_words(app: Any, client: Any) -> None:
    d = make_dealer()
    make_tiers()
    m = make_member(dealer_id=d.id)
    _earn(m.id, 800, "t:bk", Trigger.BOOKING_COMPLETED)
    _earn(m.id, 5, "t:ci", Trigger.CHECKIN)
    with db.transaction() as s:
        ledger.spend_in(s, m.id, 300, reason="redemption", key="t:spend", source="reward")
    with db.transaction() as s:  # a lot that expires within the warning window
        e = s.scalar(sa.select(PointsEntry).where(PointsEntry.idempotency_key == "t:ci"))
        assert e is not None
        e.expires_at = db.utcnow() + timedelta(days=3)
    admin = signed_in(client, Role.BRAND_ADMIN, display_name="李经理")
    ledger.adjust(m.id, 40, staff=admin, note="活动补发", key="t:adj")
    page = text(client.get(f"/admin/members/{m.id}"))
    rows = re.findall(r'<tr data-entry="\d+">(.*?)</tr>', page, re.S)
    assert len(rows) == 4
    assert "+40" in rows[0] and "活动补发" in rows[0] and "李经理" in rows[0]
    assert "-300" in rows[1]
    assert "+5" in rows[2]
    assert "+800" in rows[3] and "500" in rows[3]  # 300 drawn from the 800 lot (soonest expiry first: 5 first)
    assert 'id="member-balance">545<' in page
    assert 'id="member-expiring">' in page and re.search(r'id="member-expiring">\s*0\s*<', page) is None


def test_adjustments(app: Any, client: Any) -> None:
    d = make_dealer()
    m = make_member(dealer_id=d.id)
    _earn(m.id, 100, "t:base")
    manager = signed_in(client, Role.DEALER_MANAGER, dealer=d)
    page = text(client.get(f"/admin/members/{m.id}"))
    key = re.search(r'name="key" value="([^"]+)"', page)
    assert key is not None
    # reason required: nothing changes
    resp = post(client, f"/admin/members/{m.id}/adjust", {"points": "20", "note": " ", "key": key.group(1)})
    assert resp.status_code == 422 and "请填写调整原因" in text(resp) and _fresh(m.id).balance == 100
    # bad number
    resp = post(client, f"/admin/members/{m.id}/adjust", {"points": "12abc", "note": "x", "key": key.group(1)})
    assert resp.status_code == 422 and _fresh(m.id).balance == 100
    # a double submit adjusts once
    for _ in range(2):
        resp = post(client, f"/admin/members/{m.id}/adjust", {"points": "+20", "note": "补偿", "key": key.group(1)})
        assert resp.status_code == 303
    assert _fresh(m.id).balance == 120
    adjusts = db.session.scalars(sa.select(PointsEntry).where(PointsEntry.kind == EntryKind.ADJUST)).all()
    assert [(e.points, e.note, e.staff_id) for e in adjusts] == [(20, "补偿", manager.id)]
    logs = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "points.adjust")).all()
    assert len(logs) == 1 and logs[0].staff_id == manager.id and logs[0].target_id == str(m.id)
    # taking more than the balance is refused with a message
    resp = post(client, f"/admin/members/{m.id}/adjust", {"points": "-500", "note": "扣减", "key": "n" * 24},
                follow=True)
    assert "积分不足：当前余额 120" in text(resp) and _fresh(m.id).balance == 120
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PointsEntry)) == 2
    # a negative adjustment within the balance draws the lot
    resp = post(client, f"/admin/members/{m.id}/adjust", {"points": "-20", "note": "误发", "key": "m" * 24})
    assert resp.status_code == 303 and _fresh(m.id).balance == 100
    assert ledger.verify() == []


def test_tiers_editor(app: Any, client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    page = client.get("/admin/members/tiers")
    assert page.status_code == 200
    token = csrf_from(page.data)
    # a bad form: every problem shown, nothing saved
    resp = client.post("/admin/members/tiers", data={"csrf_token": token, "code": "Gold!", "name": "",
                                                     "threshold": "-5"})
    assert resp.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Tier)) == 0
    for code, name, threshold in (("silver", "银卡", "0"), ("gold", "金卡", "1,000")):
        resp = client.post("/admin/members/tiers", data={"csrf_token": token, "code": code, "name": name,
                                                         "threshold": threshold, "benefits": "免费洗车"})
        assert resp.status_code == 303
    gold = db.session.scalar(sa.select(Tier).where(Tier.code == "gold"))
    assert gold is not None and gold.threshold == 1000
    dup = client.post("/admin/members/tiers", data={"csrf_token": token, "code": "gold", "name": "x",
                                                    "threshold": "5"})
    assert dup.status_code == 422
    m = make_member()
    _earn(m.id, 1200, "t:gold")
    assert _fresh(m.id).tier_id == gold.id
    # a tier in use cannot be deleted; the page says how many hold it
    resp = client.post(f"/admin/members/tiers/{gold.id}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "有 1 位会员处于“金卡”等级，无法删除" in text(resp) and db.session.get(Tier, gold.id) is not None
    # raise the threshold, then recompute: the member drops to silver
    resp = client.post(f"/admin/members/tiers/{gold.id}", data={"csrf_token": token, "code": "gold", "name": "金卡",
                                                                "threshold": "2000", "sort_order": "1"})
    assert resp.status_code == 303
    resp = client.post("/admin/members/tiers/recompute", data={"csrf_token": token}, follow_redirects=True)
    assert "等级已重算：1 位会员的等级有变化" in text(resp)
    silver = db.session.scalar(sa.select(Tier).where(Tier.code == "silver"))
    assert silver is not None and _fresh(m.id).tier_id == silver.id
    resp = client.post(f"/admin/members/tiers/{gold.id}/delete", data={"csrf_token": token})
    assert resp.status_code == 303 and db.session.get(Tier, gold.id) is None
    actions = [a for (a,) in db.session.execute(sa.select(AuditLog.action).where(AuditLog.action.like("tier.%"))
                                                .order_by(AuditLog.id))]
    assert actions == ["tier.create", "tier.create", "tier.update", "tier.recompute", "tier.delete"]
    recompute = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "tier.recompute"))
    assert recompute is not None and recompute.detail == {"changed": 1}


def test_dealer_manager_cannot_edit_tiers(app: Any, client: Any) -> None:
    make_tiers()
    signed_in(client, Role.DEALER_MANAGER)
    assert client.get("/admin/members/tiers").status_code == 403
    tier_id = db.session.scalar(sa.select(Tier.id).limit(1))
    assert post(client, f"/admin/members/tiers/{tier_id}/delete").status_code == 403
    assert post(client, "/admin/members/tiers/recompute").status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Tier)) == 3


def test_customer_loyalty_panel(app: Any) -> None:
    from flask import g, render_template

    from scrm.services.scope import Scope

    a, b = make_dealer(), make_dealer()
    make_tiers()
    m = make_member(dealer_id=b.id)
    _earn(m.id, 1234, "t:panel")
    c = make_customer(a, name="钱七")
    bind(c, _follower(m))
    lonely = make_customer(a, name="孙八")
    with app.test_request_context("/admin/customers/"):
        g.scope = Scope(account_id=c.account_id, dealer_id=a.id, role=Role.DEALER_STAFF)
        html = render_template("admin/customers/_loyalty_panel.html", c=c)
        assert f'data-member="{m.id}"' in html and "1,234" in html and "金卡" in html
        assert f"/admin/members/{m.id}" in html
        assert "data-member" not in render_template("admin/customers/_loyalty_panel.html", c=lonely)
        g.scope = Scope(account_id=c.account_id, dealer_id=b.id, role=Role.DEALER_STAFF)
        assert "data-member" not in render_template("admin/customers/_loyalty_panel.html", c=c)
