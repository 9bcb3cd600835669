"""The earning rules page: account rules, dealer overrides, validity, permissions, validation, audit."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, EarningRule, LoyaltySettings, Role, Trigger
from scrm.services import ledger
from tests.factories import make_dealer
from tests.integration.admin_support import post, signed_in, text
from tests.integration.loyalty_support import make_member, make_rule

pytestmark = pytest.mark.integration
GOOD = {"points": "50", "daily_cap": "100", "monthly_cap": "300", "active": "y"}


def _rules() -> list[tuple[int | None, str, int, int | None, int | None, int | None, dict[str, Any], bool]]:
    db.session.remove()
    return [(r.dealer_id, r.trigger.value, r.points, r.per_amount, r.daily_cap, r.monthly_cap, r.params, r.active)
            for r in db.session.scalars(sa.select(EarningRule).order_by(EarningRule.id))]


def _actions() -> list[tuple[str, int | None]]:
    db.session.remove()
    return [(a.action, a.dealer_id) for a in db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action.startswith("loyalty.")).order_by(AuditLog.id))]


def test_brand_admin_edits_account_rules_overrides_and_validity(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    dealer = make_dealer(name="苏州园区4S店")
    page = text(client.get("/admin/loyalty/rules/"))
    assert "积分获取规则" in page and 'data-trigger="repair_order"' in page
    resp = post(client, "/admin/loyalty/rules/save", {**GOOD, "trigger": "booking_completed"})
    assert resp.status_code == 303
    resp = post(client, "/admin/loyalty/rules/save", {"points": "1", "per_amount": "10", "trigger": "repair_order",
                                                     "active": "y", "dealer_id": str(dealer.id)})
    assert resp.status_code == 303 and resp.location.endswith(f"?dealer={dealer.id}")
    post(client, "/admin/loyalty/rules/save", {"points": "20", "streak_days": "7", "trigger": "streak_bonus"})
    assert _rules() == [(None, "booking_completed", 50, None, 100, 300, {}, True),
                        (dealer.id, "repair_order", 1, 10, None, None, {}, True),
                        (None, "streak_bonus", 20, None, None, None, {"days": 7}, False)]
    at_dealer = text(client.get(f"/admin/loyalty/rules/?dealer={dealer.id}"))
    assert "该经销商自有规则" in at_dealer and "每 10 元" in at_dealer
    assert post(client, "/admin/loyalty/rules/settings", {"valid_months": "12",
                                                         "expiry_warning_days": "15"}).status_code == 303
    db.session.remove()
    s = db.session.scalar(sa.select(LoyaltySettings))
    assert s is not None and (s.valid_months, s.expiry_warning_days) == (12, 15)
    assert post(client, "/admin/loyalty/rules/reset", {"trigger": "repair_order",
                                                      "dealer_id": str(dealer.id)}).status_code == 303
    assert [r[:2] for r in _rules()] == [(None, "booking_completed"), (None, "streak_bonus")]
    assert _actions() == [("loyalty.rule.save", None), ("loyalty.rule.save", dealer.id),
                          ("loyalty.rule.save", None), ("loyalty.settings.save", None),
                          ("loyalty.rule.reset", dealer.id)]


@pytest.mark.parametrize(("data", "field_message"), [
    ({"points": "abc"}, "积分：0 到 100000 之间的整数。"),
    ({"points": "-5"}, "积分：0 到 100000 之间的整数。"),
    ({"daily_cap": "500", "monthly_cap": "100"}, "每月上限不能小于每日上限。"),
    ({"trigger": "repair_order", "per_amount": ""}, "每多少元：1 到 1000000 之间的整数（元）。"),
    ({"trigger": "streak_bonus", "streak_days": "1"}, "连续天数：2 到 365 之间的整数。"),
])
def test_bad_input_is_refused_in_chinese_and_nothing_changes(client: Any, data: dict[str, str],
                                                             field_message: str) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    resp = post(client, "/admin/loyalty/rules/save", {**GOOD, "trigger": "booking_completed", **data})
    assert resp.status_code == 422
    assert field_message in text(resp)
    assert _rules() == [] and _actions() == []


def test_bad_validity_is_refused(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    resp = post(client, "/admin/loyalty/rules/settings", {"valid_months": "0", "expiry_warning_days": "x"})
    assert resp.status_code == 422
    body = text(resp)
    assert "有效期：1 到 120 之间的整数（月）。" in body and "提醒：0 到 365 之间的整数（天）。" in body
    db.session.remove()
    assert db.session.scalar(sa.select(LoyaltySettings)) is None


def test_dealer_manager_edits_only_its_own_dealer(client: Any) -> None:
    own, other = make_dealer(), make_dealer()
    make_rule(Trigger.BIRTHDAY, 88)
    signed_in(client, Role.DEALER_MANAGER, dealer=own)
    page = text(client.get("/admin/loyalty/rules/"))
    assert "全账号规则" in page and 'name="valid_months"' not in page  # sees validity, cannot change it
    assert post(client, "/admin/loyalty/rules/save", {**GOOD, "trigger": "birthday"}).status_code == 303
    assert post(client, "/admin/loyalty/rules/save", {**GOOD, "trigger": "birthday",
                                                     "dealer_id": str(other.id)}).status_code == 404
    assert post(client, "/admin/loyalty/rules/settings", {"valid_months": "6",
                                                         "expiry_warning_days": "3"}).status_code == 403
    assert client.get(f"/admin/loyalty/rules/?dealer={other.id}").status_code == 404
    assert _rules() == [(None, "birthday", 88, None, None, None, {}, True),
                        (own.id, "birthday", 50, None, 100, 300, {}, True)]
    assert post(client, "/admin/loyalty/rules/reset", {"trigger": "birthday",
                                                      "dealer_id": str(own.id)}).status_code == 303
    assert [r[0] for r in _rules()] == [None]
    assert _actions() == [("loyalty.rule.save", own.id), ("loyalty.rule.reset", own.id)]


def test_posts_without_the_csrf_token_change_nothing(client: Any) -> None:
    dealer = make_dealer()
    make_rule(Trigger.CHECKIN, 5, dealer_id=dealer.id)
    signed_in(client, Role.BRAND_ADMIN)
    assert client.post("/admin/loyalty/rules/save", data={**GOOD, "trigger": "checkin"}).status_code in (400, 422)
    assert client.post("/admin/loyalty/rules/reset", data={"trigger": "checkin", "dealer_id": str(dealer.id)}
                       ).status_code in (400, 403)
    assert client.post("/admin/loyalty/rules/settings", data={"valid_months": "6", "expiry_warning_days": "1"}
                       ).status_code in (400, 422)
    assert _rules() == [(dealer.id, "checkin", 5, None, None, None, {}, True)] and _actions() == []
    db.session.remove()
    assert db.session.scalar(sa.select(LoyaltySettings)) is None


def test_dealer_staff_get_403_everywhere(client: Any) -> None:
    dealer = make_dealer()
    signed_in(client, Role.DEALER_STAFF, dealer=dealer)
    assert client.get("/admin/loyalty/rules/").status_code == 403
    for path in ("/admin/loyalty/rules/save", "/admin/loyalty/rules/reset"):
        assert post(client, path, {**GOOD, "trigger": "checkin", "dealer_id": str(dealer.id)}).status_code == 403
    assert "/admin/loyalty/rules/" not in text(client.get("/admin/"))
    assert _rules() == []


def test_the_page_shows_what_each_rule_paid_in_30_days(client: Any) -> None:
    make_rule(Trigger.CHECKIN, 5)
    m = make_member()
    with db.transaction() as s:
        ledger.earn_in(s, m.id, Trigger.CHECKIN, key="c1", source="member", points=1234)
    signed_in(client, Role.BRAND_ADMIN)
    page = text(client.get("/admin/loyalty/rules/"))
    row = page[page.index('data-trigger="checkin"'):page.index('data-trigger="streak_bonus"')]
    assert "1,234" in row
