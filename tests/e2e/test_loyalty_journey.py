"""Issue 5's "must show", end to end in Chromium: a member checks in through the phone simulator's chat,
sees the points, redeems a reward on the H5 page, registers for a club event, checks in by scanning
the event's QR code (points once), and the member centre shows the whole story."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from scrm import db
from scrm.models import EventRegistration, Follower, Member, PointsEntry, Redemption, RegistrationStatus, Role, Trigger
from scrm.services import ledger
from scrm.services.accounts import account_id
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_dealer, make_staff
from tests.integration.loyalty_support import make_rule, make_tiers
from tests.integration.test_club_service import make_event
from tests.integration.test_rewards import make_reward

pytestmark = pytest.mark.e2e


def _bot_said(phone: Any, text: str) -> None:
    expect(phone.locator(".phone-chat .msg:not(.me)", has_text=text).last).to_be_visible()


def _send(phone: Any, text: str) -> None:
    if phone.locator("#phone-to-input").is_visible():
        phone.click("#phone-to-input")
    phone.fill("#phone-text", text)
    phone.keyboard.press("Enter")


def test_check_in_see_points_redeem_register_and_scan(page: Any, live_server: Any) -> None:
    dealer = make_dealer(name="上海浦东店")
    make_rule(Trigger.CHECKIN, 20)
    make_tiers()
    wash = make_reward(dealer_id=dealer.id, name="精致洗车一次", cost=15, stock=3, per_member_limit=1)
    now = db.utcnow()
    ev = make_event(title="车主用车课堂", place="门店二楼培训室", dealer_id=dealer.id, points=30,
                    starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=3),
                    registration_deadline=now + timedelta(minutes=50))

    # Check in through the chat, then ask for the points.
    phone = page
    phone.goto("/sandbox/phone/?account=demo")
    phone.fill("#sbx-label", "周先生")
    phone.click("#sbx-new")
    phone.click("#sbx-follow")
    _bot_said(phone, "欢迎关注")
    _send(phone, "签到")
    _bot_said(phone, "+20")
    _send(phone, "签到")
    _bot_said(phone, "今天已经签过到了")
    _send(phone, "积分")
    _bot_said(phone, "20")
    screenshot(phone, "loyalty-journey-chat")
    with db.transaction() as s:
        follower_id = s.scalar(sa.select(Follower.id).where(Follower.account_id == account_id("demo"))
                               .order_by(Follower.id.desc()).limit(1))
        member = s.scalar(sa.select(Member).where(Member.follower_id == follower_id))
        assert member is not None and member.balance == 20
        member_id = member.id

    # Redeem a reward on the H5 page (signed in through the sandbox's OAuth as the phone's follower).
    phone.set_viewport_size({"width": 375, "height": 812})
    phone.goto("/h5/demo/rewards")
    expect(phone.locator("#balance")).to_contain_text("20")
    phone.click(f"a[data-reward='{wash.id}']")
    phone.click("#redeem-form button[type=submit]")
    expect(phone.locator("#redeemed")).to_contain_text("兑换成功")
    screenshot(phone, "loyalty-journey-voucher")

    # Register for the club event on H5.
    phone.goto("/h5/demo/events")
    phone.click(f"[data-event='{ev.id}']")
    phone.click("#register-form button[type=submit]")
    expect(phone.locator("#done")).to_contain_text("报名成功")

    # Staff open the event (its check-in QR is made), then the phone scans it twice.
    phone.set_viewport_size({"width": 1280, "height": 860})
    sign_in(phone, make_staff(Role.DEALER_MANAGER, dealer=dealer).username)
    phone.goto(f"/admin/club/{ev.id}")
    phone.wait_for_function("() => { const i = document.querySelector('#checkin-qr');"
                            " return i && i.complete && i.naturalWidth > 0; }")
    phone.goto("/sandbox/phone/?account=demo")
    option = phone.locator("#sbx-ticket option", has_text=f"event:{ev.checkin_token}")
    phone.select_option("#sbx-ticket", option.get_attribute("value"))
    phone.click("#sbx-scan")
    _bot_said(phone, "签到成功")
    phone.click("#sbx-scan")
    _bot_said(phone, "签过到了")
    screenshot(phone, "loyalty-journey-scan")

    # The member centre: 20 + 30 - 15 = 35 points, the history in words.
    phone.set_viewport_size({"width": 375, "height": 812})
    phone.goto("/h5/demo/member")
    expect(phone.locator("body")).to_contain_text("35")
    expect(phone.locator("[data-entry]", has_text="兑换礼品")).to_contain_text("-15")  # the history speaks words
    screenshot(phone, "loyalty-journey-centre")
    db.session.remove()  # a fresh session: the live server changed these rows
    with db.transaction() as s:
        points = list(s.scalars(sa.select(PointsEntry.points).where(PointsEntry.member_id == member_id)
                                .order_by(PointsEntry.id)))
        reg = s.scalar(sa.select(EventRegistration).where(EventRegistration.event_id == ev.id))
        voucher = s.scalar(sa.select(Redemption).where(Redemption.member_id == member_id))
        assert points == [20, -15, 30]
        assert reg is not None and reg.status == RegistrationStatus.ATTENDED
        assert voucher is not None and voucher.points == 15
        m = s.get(Member, member_id)
        assert m is not None and m.balance == 35 and m.tier_id is not None
    assert ledger.verify() == []
