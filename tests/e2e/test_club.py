"""Owners' club in Chromium: register in H5 with a companion, the admin event page with its check-in QR,
then check in by scanning that QR in the phone simulator (points paid once)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from scrm import db
from scrm.models import EventRegistration, Follower, PointsEntry, RegistrationStatus, Role
from scrm.services.accounts import account_id
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_dealer, make_staff
from tests.integration.test_club_service import make_event, member_id

pytestmark = pytest.mark.e2e


def _newest_follower() -> int:
    with db.transaction() as s:
        fid = s.scalar(sa.select(Follower.id).where(Follower.account_id == account_id("demo"))
                       .order_by(Follower.id.desc()).limit(1))
    assert fid is not None
    return int(fid)


def test_register_in_h5_and_check_in_by_scanning(page: Any, live_server: Any) -> None:
    dealer = make_dealer(name="上海浦东店")
    now = db.utcnow()
    ev = make_event(title="新春车友自驾游", place="上海浦东店展厅集合", dealer_id=dealer.id, points=60,
                    description="沿滨江大道自驾，途中有摄影师跟拍，结束后在展厅享用下午茶。",
                    starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=4),
                    registration_deadline=now + timedelta(minutes=50))
    page.goto("/sandbox/phone/?account=demo")
    page.click("#sbx-new")
    page.click("#sbx-follow")
    expect(page.locator(".phone-chat .msg:not(.me)", has_text="欢迎关注").last).to_be_visible()
    follower = _newest_follower()

    page.set_viewport_size({"width": 375, "height": 812})
    page.goto("/h5/demo/events")                                     # signs in through the sandbox's OAuth
    expect(page.locator(f"[data-event='{ev.id}']")).to_contain_text("新春车友自驾游")
    screenshot(page, "club-h5-list")
    page.click(f"[data-event='{ev.id}']")
    page.select_option("#companions", "1")
    page.click("#register-form button[type=submit]")
    expect(page.locator("#done")).to_contain_text("报名成功")
    expect(page.locator("#seats")).to_contain_text("已占 2 / 10")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "club-h5-registered")

    page.set_viewport_size({"width": 1280, "height": 860})
    sign_in(page, make_staff(Role.DEALER_MANAGER, dealer=dealer).username)
    page.goto(f"/admin/club/{ev.id}")
    expect(page.locator("#registrations tbody tr")).to_have_count(1)
    page.wait_for_function("() => { const i = document.querySelector('#checkin-qr');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    screenshot(page, "club-admin-event")
    page.goto("/admin/club/")
    expect(page.locator(f"#events-table tr[data-event='{ev.id}']")).to_contain_text("2 / 10")
    screenshot(page, "club-admin-list")
    page.goto("/admin/club/new")
    expect(page.locator("#event-form")).to_contain_text("仅用于活动对象「客户分群内的会员」")
    screenshot(page, "club-admin-form")

    page.goto("/sandbox/phone/?account=demo")
    option = page.locator("#sbx-ticket option", has_text=f"event:{ev.checkin_token}")
    expect(option).to_have_count(1)
    page.select_option("#sbx-ticket", option.get_attribute("value"))
    page.click("#sbx-scan")
    expect(page.locator(".phone-chat .msg:not(.me)", has_text="签到成功").last).to_contain_text("奖励 60 积分")
    page.click("#sbx-scan")                                            # a second scan pays nothing more
    expect(page.locator(".phone-chat .msg:not(.me)", has_text="签过到了").last).to_be_visible()
    screenshot(page, "club-phone-checkin")
    with db.transaction() as s:
        reg = s.scalar(sa.select(EventRegistration).where(EventRegistration.event_id == ev.id))
        paid = list(s.scalars(sa.select(PointsEntry.points).where(PointsEntry.member_id == member_id(follower))))
    assert reg is not None and reg.status == RegistrationStatus.ATTENDED and reg.companions == 1
    assert paid == [60]
