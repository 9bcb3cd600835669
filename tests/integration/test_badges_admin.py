"""Badges in the admin: the editor (brand admin), the standard set, manual award/revoke with audit, scoping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, Badge, BadgeRule, Delivery, MemberBadge, Role, Trigger
from scrm.services import ledger
from tests.factories import make_dealer
from tests.integration.admin_support import post, signed_in, text
from tests.integration.loyalty_support import make_member

pytestmark = pytest.mark.integration
GOOD = {"code": "vip", "name": "贵宾车主", "description": "门店认定的贵宾", "icon": "💎", "rule": "manual",
        "threshold": "1", "active": "y", "sort_order": "5"}


def _badges() -> list[Badge]:
    db.session.remove()
    return list(db.session.scalars(sa.select(Badge).order_by(Badge.sort_order, Badge.id)))


def _actions() -> list[str]:
    db.session.remove()
    return list(db.session.scalars(sa.select(AuditLog.action).where(AuditLog.action.startswith("badge."))
                                   .order_by(AuditLog.id)))


def test_brand_admin_creates_edits_and_seeds_the_standard_badges(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    assert post(client, "/admin/badges/new", GOOD).status_code == 303
    [vip] = _badges()
    assert (vip.code, vip.name, vip.icon, vip.rule, vip.active, vip.sort_order) == (
        "vip", "贵宾车主", "💎", BadgeRule.MANUAL, True, 5)
    resp = post(client, f"/admin/badges/{vip.id}/edit", {**GOOD, "name": "至尊车主", "active": ""})
    assert resp.status_code == 303
    assert (_badges()[0].name, _badges()[0].active) == ("至尊车主", False)
    bad = post(client, "/admin/badges/new", {**GOOD, "icon": "", "threshold": "0", "rule": "nope"})
    assert bad.status_code == 422 and len(_badges()) == 1
    page = text(bad)
    assert "另一个徽章已使用此编码" in page and "图标请填写一个字符或表情" in page and "请选择徽章的获得方式" in page
    assert post(client, "/admin/badges/standard", follow=False).status_code == 303
    codes = [b.code for b in _badges()]
    assert set(codes) == {"vip", "first_service", "streak_7", "club_regular", "top_referrer", "old_friend"}
    post(client, "/admin/badges/standard")                    # a second click adds nothing
    assert len(_badges()) == 6
    assert _actions() == ["badge.create", "badge.update", "badge.seed"]
    listing = text(client.get("/admin/badges/"))
    assert "首次保养" in listing and "连续签到7天" in listing and "老朋友" in listing


def test_dealer_roles_view_only_and_count_their_own_holders(client: Any) -> None:
    d, other = make_dealer(), make_dealer()
    with db.transaction() as s:
        s.add(Badge(account_id=d.account_id, code="vip", name="贵宾", icon="💎", rule=BadgeRule.MANUAL))
    [badge] = _badges()
    with db.transaction() as s:
        for dealer in (d, other, other):
            s.add(MemberBadge(member_id=make_member(dealer_id=dealer.id).id, badge_id=badge.id))
    signed_in(client, Role.DEALER_MANAGER, dealer=d)
    page = text(client.get("/admin/badges/"))
    assert "贵宾" in page and f'href="/admin/badges/{badge.id}/edit"' not in page
    assert '<td class="num">1</td>' in page                  # only the holder of the own dealer
    assert client.get("/admin/badges/new").status_code == 403
    assert post(client, f"/admin/badges/{badge.id}/edit", GOOD).status_code == 403
    assert post(client, "/admin/badges/standard").status_code == 403
    assert len(_badges()) == 1


def test_manual_award_and_revoke_are_audited_notified_once_and_scoped(client: Any) -> None:
    d, other = make_dealer(), make_dealer()
    with db.transaction() as s:
        s.add(Badge(account_id=d.account_id, code="vip", name="贵宾", icon="💎", rule=BadgeRule.MANUAL))
        s.add(Badge(account_id=d.account_id, code="auto", name="老朋友", rule=BadgeRule.BOOKINGS, threshold=5))
    vip, auto = _badges()
    mine, theirs = make_member(dealer_id=d.id), make_member(dealer_id=other.id)
    signed_in(client, Role.DEALER_MANAGER, dealer=d)
    assert "贵宾" in text(client.get(f"/admin/badges/members/{mine.id}"))
    assert client.get(f"/admin/badges/members/{theirs.id}").status_code == 404
    assert post(client, f"/admin/badges/members/{theirs.id}/award", {"badge_id": vip.id}).status_code == 404
    for _ in range(2):
        assert post(client, f"/admin/badges/members/{mine.id}/award", {"badge_id": vip.id}).status_code == 303
    refused = post(client, f"/admin/badges/members/{mine.id}/award", {"badge_id": auto.id}, follow=True)
    assert "只有启用中且由员工授予的徽章可以手动发放" in text(refused)
    db.session.remove()
    held = list(db.session.scalars(sa.select(MemberBadge).where(MemberBadge.member_id == mine.id)))
    assert [(h.badge_id, h.staff_id is not None) for h in held] == [(vip.id, True)]
    keys = list(db.session.scalars(sa.select(Delivery.dedupe_key).where(Delivery.dedupe_key.like("badge:%"))))
    assert keys == [f"badge:{vip.id}:{mine.id}"]
    assert post(client, f"/admin/badges/members/{mine.id}/revoke", {"badge_id": vip.id}).status_code == 303
    assert post(client, f"/admin/badges/members/{mine.id}/revoke", {"badge_id": vip.id}).status_code == 303
    db.session.remove()
    assert db.session.scalar(sa.select(MemberBadge.id).where(MemberBadge.member_id == mine.id)) is None
    assert _actions() == ["badge.award", "badge.revoke"]
    audit = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "badge.award")).one()
    assert (audit.target_id, audit.dealer_id, audit.detail["badge"]) == (str(mine.id), d.id, "vip")


def test_dealer_staff_cannot_award(client: Any) -> None:
    d = make_dealer()
    with db.transaction() as s:
        s.add(Badge(account_id=d.account_id, code="vip", name="贵宾", rule=BadgeRule.MANUAL))
    [vip] = _badges()
    m = make_member(dealer_id=d.id)
    signed_in(client, Role.DEALER_STAFF, dealer=d)
    assert post(client, f"/admin/badges/members/{m.id}/award", {"badge_id": vip.id}).status_code == 403
    assert "/award" not in text(client.get(f"/admin/badges/members/{m.id}"))


def _two_dealers_board() -> tuple[Any, Any, datetime]:
    d, other = make_dealer(name="杭州店"), make_dealer(name="苏州店")
    at = datetime.now(UTC)
    for dealer, remark, pts in ((d, "陈大文", 30), (other, "林小姐", 90)):
        m = make_member(dealer_id=dealer.id, remark=remark)
        with db.transaction() as s:
            ledger.earn_in(s, m.id, Trigger.CHECKIN, key=f"adm:{m.id}", source="member", points=pts, now=at)
    return d, other, at


def test_admin_leaderboard_is_dealer_scoped(client: Any) -> None:
    d, other, _at = _two_dealers_board()
    signed_in(client, Role.DEALER_MANAGER, dealer=d)
    page = text(client.get(f"/admin/badges/leaderboard?dealer={other.id}"))
    assert "陈**" in page and "林**" not in page              # a dealer role cannot pick another dealer
    assert client.get("/admin/badges/leaderboard?month=2026-13").status_code == 400


def test_brand_admin_picks_the_dealer_of_the_leaderboard(client: Any) -> None:
    _d, other, at = _two_dealers_board()
    signed_in(client, Role.BRAND_ADMIN)
    page = text(client.get(f"/admin/badges/leaderboard?dealer={other.id}&month={at:%Y-%m}"))
    assert "林**" in page and "90" in page and "陈**" not in page
