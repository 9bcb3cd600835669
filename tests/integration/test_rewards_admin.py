"""积分商城 in the admin: catalogue CRUD and stock top-up (scoped, audited), redemptions with cancel, and the
counter page (/admin/rewards/verify) that uses a voucher once and only at its dealer."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, Member, Redemption, RedemptionStatus, Reward, Role
from scrm.services import rewards
from tests.factories import make_dealer
from tests.integration.admin_support import post, signed_in, text
from tests.integration.test_rewards import give, make_reward, new_member

pytestmark = pytest.mark.integration


def _fresh(model: Any, ident: int) -> Any:
    db.session.rollback()
    return db.session.get(model, ident, populate_existing=True)


def _actions() -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(AuditLog.action).order_by(AuditLog.id)))


def test_a_manager_creates_edits_and_tops_up_the_own_dealers_reward(client: Any) -> None:
    d = make_dealer()
    signed_in(client, Role.DEALER_MANAGER, dealer=d)
    page = client.get("/admin/rewards/new")
    assert page.status_code == 200 and "新建礼品" in text(page)
    resp = post(client, "/admin/rewards/new", {"name": "免费洗车", "description": "精洗一次", "cost": "200",
                                               "stock": "10", "per_member_limit": "2", "voucher_days": "30",
                                               "valid_from": "", "valid_until": "2030-12-31", "sort_order": "1",
                                               "active": "y", "dealer_id": "999999"})
    assert resp.status_code == 303
    r = db.session.scalars(sa.select(Reward)).one()
    assert r.dealer_id == d.id and r.cost == 200 and r.stock == 10 and r.per_member_limit == 2  # own dealer, not 999999
    listing = text(client.get("/admin/rewards/"))
    assert "免费洗车" in listing and "2030-12-31" in listing
    resp = post(client, f"/admin/rewards/{r.id}/edit", {"name": "免费精洗", "cost": "150", "voucher_days": "15",
                                                        "sort_order": "1", "stock": "999"})
    assert resp.status_code == 303
    r = _fresh(Reward, r.id)
    assert r.name == "免费精洗" and r.cost == 150 and not r.active and r.stock == 10  # stock is not edited here
    assert post(client, f"/admin/rewards/{r.id}/stock", {"add": "5"}).status_code == 303
    assert _fresh(Reward, r.id).stock == 15
    assert _actions()[-3:] == ["reward.create", "reward.update", "reward.stock"]


def test_bad_input_shows_messages_and_changes_nothing(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    resp = post(client, "/admin/rewards/new", {"name": "", "cost": "abc", "stock": "1", "voucher_days": "30"})
    assert resp.status_code == 422
    body = text(resp)
    assert "请输入礼品名称。" in body and "请输入 1 到 10000000 之间的整数。" in body
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Reward)) == 0


def test_another_dealers_reward_is_out_of_reach(client: Any) -> None:
    mine, other = make_dealer(), make_dealer()
    theirs = make_reward(dealer_id=other.id, name="别家礼品")
    shared = make_reward(dealer_id=None, name="品牌礼品")
    signed_in(client, Role.DEALER_MANAGER, dealer=mine)
    listing = text(client.get("/admin/rewards/"))
    assert "别家礼品" not in listing and "品牌礼品" in listing and "由品牌管理" in listing
    assert client.get(f"/admin/rewards/{theirs.id}/edit").status_code == 404
    assert client.get(f"/admin/rewards/{shared.id}/edit").status_code == 403
    post(client, f"/admin/rewards/{theirs.id}/stock", {"add": "5"})
    assert _fresh(Reward, theirs.id).stock == 5


def test_dealer_staff_reach_only_the_counter(client: Any) -> None:
    signed_in(client, Role.DEALER_STAFF)
    assert client.get("/admin/rewards/").status_code == 403
    assert client.get("/admin/rewards/redemptions").status_code == 403
    page = client.get("/admin/rewards/verify")
    assert page.status_code == 200 and "券码核销" in text(page)


def test_the_counter_uses_a_voucher_once_and_says_when_and_by_whom(client: Any) -> None:
    d = make_dealer()
    m = new_member()
    give(m, 100)
    red = rewards.redeem(m.follower_id, make_reward(dealer_id=d.id, name="保养券").id, "adm-1")
    clerk = signed_in(client, Role.DEALER_STAFF, dealer=d, display_name="李前台")
    page = text(client.get(f"/admin/rewards/verify?code={red.code.lower()}"))
    assert "保养券" in page and "未使用" in page and 'id="use-form"' in page
    resp = post(client, "/admin/rewards/verify/use", {"code": red.code}, follow=True)
    assert "核销成功" in text(resp) and "已使用" in text(resp) and "李前台" in text(resp)
    row = _fresh(Redemption, red.id)
    assert row.status == RedemptionStatus.USED and row.used_by == clerk.id
    again = text(post(client, "/admin/rewards/verify/use", {"code": red.code}, follow=True))
    assert "该券已于" in again and "由 李前台 核销" in again
    assert _actions().count("voucher.use") == 1


def test_the_counter_refuses_another_dealers_voucher_and_unknown_codes(client: Any) -> None:
    mine, other = make_dealer(), make_dealer(name="远方4S店")
    m = new_member()
    give(m, 100)
    red = rewards.redeem(m.follower_id, make_reward(dealer_id=other.id).id, "adm-2")
    signed_in(client, Role.DEALER_STAFF, dealer=mine)
    page = text(client.get(f"/admin/rewards/verify?code={red.code}"))
    assert "该券仅限 远方4S店 使用" in page and 'id="use-form"' not in page
    resp = text(post(client, "/admin/rewards/verify/use", {"code": red.code}, follow=True))
    assert "该券仅限 远方4S店 使用" in resp
    assert _fresh(Redemption, red.id).status == RedemptionStatus.ISSUED
    missing = client.get("/admin/rewards/verify?code=ABCDEFGHJK")
    assert missing.status_code == 404 and "没有券码为 ABCDEFGHJK 的兑换券" in text(missing)


def test_a_manager_cancels_a_voucher_and_the_points_come_back(client: Any) -> None:
    d = make_dealer()
    m = new_member()
    give(m, 100)
    r = make_reward(dealer_id=d.id, cost=100, stock=1)
    red = rewards.redeem(m.follower_id, r.id, "adm-3")
    signed_in(client, Role.DEALER_MANAGER, dealer=d)
    listing = text(client.get("/admin/rewards/redemptions?status=issued"))
    assert red.code in listing and "作废" in listing
    resp = post(client, f"/admin/rewards/redemptions/{red.id}/cancel", {"reason": ""}, follow=True)
    assert "请填写作废原因" in text(resp) and _fresh(Redemption, red.id).status == RedemptionStatus.ISSUED
    resp = post(client, f"/admin/rewards/redemptions/{red.id}/cancel", {"reason": "顾客改主意"}, follow=True)
    assert "已退还 100 积分" in text(resp)
    assert _fresh(Redemption, red.id).status == RedemptionStatus.CANCELLED
    assert _fresh(Member, m.id).balance == 100 and _fresh(Reward, r.id).stock == 1
    assert {"voucher.cancel", "points.adjust"} <= set(_actions())
