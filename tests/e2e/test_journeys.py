"""Journeys in Chromium: a dealer manager switches on the birthday journey, rewrites its wording (a broken
template is shown on its step first), saves, and sees the new wording when the page is loaded again."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from scrm import db, runtime
from scrm.jobs.journey_jobs import tick
from scrm.models import Journey, JourneyKind, Role
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_dealer, make_follower, make_staff
from tests.integration.customer_support import bind, make_customer, make_vehicle

pytestmark = pytest.mark.e2e

WORDING = "{{ customer.salutation }}，生日快乐！本月到店可免费洗车一次。"


def _birthday(dealer_id: int) -> Journey:
    with db.transaction() as s:
        j = s.scalar(sa.select(Journey).where(Journey.dealer_id == dealer_id, Journey.kind == JourneyKind.BIRTHDAY))
        assert j is not None
        s.expunge(j)
        return j


def test_enable_the_birthday_journey_and_reword_it(page: Any, live_server: Any) -> None:
    dealer = make_dealer(name="上海浦东店")
    sign_in(page, make_staff(Role.DEALER_MANAGER, dealer=dealer).username)
    page.click("nav.sidenav >> text=客户旅程")
    expect(page.locator(".jn-card")).to_have_count(8)
    screenshot(page, "journeys-list-off")
    card = page.locator(".jn-card[data-kind='birthday']")
    expect(card).to_have_attribute("data-enabled", "off")
    card.locator("button[role=switch]").click()
    expect(page.locator(".flash-success")).to_be_visible()
    card = page.locator(".jn-card[data-kind='birthday']")
    expect(card).to_have_attribute("data-enabled", "on")
    expect(card.locator("button[role=switch]")).to_have_attribute("aria-checked", "true")
    before = _birthday(dealer.id)
    assert before.enabled is True
    screenshot(page, "journeys-list-on")

    card.locator("a.btn").click()
    expect(page.locator("#step-day")).to_be_visible()
    expect(page.locator("#enabled")).to_be_checked()
    page.fill("#s_day_text", "{{ customer.salutation ")
    page.click("#journey-save")
    expect(page.locator("#step-day .flash-error")).to_be_visible()
    expect(page.locator("#s_day_text")).to_have_value("{{ customer.salutation ")
    screenshot(page, "journeys-edit-error")
    assert _birthday(dealer.id).steps == before.steps                # nothing saved

    page.fill("#s_day_text", WORDING)
    page.select_option("#channel", "custom")
    page.click("#journey-save")
    expect(page.locator(".flash-success")).to_contain_text("旅程已保存")
    page.reload()
    expect(page.locator("#s_day_text")).to_have_value(WORDING)
    expect(page.locator("#channel")).to_have_value("custom")
    expect(page.locator("#exit-rule")).not_to_be_empty()
    expect(page.locator("#step-stats tbody tr")).to_have_count(1)
    screenshot(page, "journeys-edit-saved")
    saved = _birthday(dealer.id)
    assert saved.enabled is True and saved.steps[0]["message"]["text"] == WORDING


def test_a_running_journey_shows_its_figures_and_enrolments(page: Any, live_server: Any) -> None:
    dealer = make_dealer(name="杭州西湖店")
    today = db.utcnow().astimezone(runtime.get().settings.app.tz).date()
    for name, model in (("王建国", "凯美瑞"), ("李娜", "RAV4荣放")):
        owner = make_customer(dealer, name=name)
        make_vehicle(owner, model=model, purchase_date=today)
        bind(owner, make_follower())
    sign_in(page, make_staff(Role.DEALER_MANAGER, dealer=dealer).username)
    page.goto("/admin/journeys/")
    page.locator(".jn-card[data-kind='welcome'] button[role=switch]").click()
    expect(page.locator(".jn-card[data-kind='welcome']")).to_have_attribute("data-enabled", "on")
    assert tick()["welcome.enrolled"] == 2
    page.reload()
    expect(page.locator(".jn-card[data-kind='welcome'] [data-figure='active']")).to_have_text("2")
    screenshot(page, "journeys-list-running")
    page.locator(".jn-card[data-kind='welcome'] a.btn").click()
    expect(page.locator("#enrolments tbody tr")).to_have_count(2)
    expect(page.locator("#enrolments")).to_contain_text("王建国")
    expect(page.locator("#step-stats tr[data-step='d0'] td").nth(5)).to_have_text("2")     # waiting to be sent
    expect(page.locator("#step-day, #step-d0")).to_have_count(1)
    screenshot(page, "journeys-edit-running")
    url = page.url

    page.click("form.logout button")
    sign_in(page, make_staff(Role.DEALER_STAFF, dealer=dealer).username)
    page.goto(url)
    expect(page.locator("#read-only")).to_be_visible()
    expect(page.locator("#journey-save")).to_have_count(0)
    expect(page.locator("[data-readonly-step=d0]")).to_contain_text("customer.salutation")
    expect(page.locator(".compose")).to_have_count(0)
    expect(page.locator("#enrolments")).to_contain_text("王**")
    screenshot(page, "journeys-edit-readonly")
