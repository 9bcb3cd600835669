"""The issue's must-show, in Chromium: a dealer manager builds a segment (live count), composes a campaign with a
preview, launches it, watches the progress reach 100%, and the owner in the segment sees the push in the phone
simulator (the owner outside it gets nothing)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from scrm import db
from scrm.models import Role, Segment
from scrm.sandbox import state as sandbox
from tests.e2e.conftest import screenshot, sign_in
from tests.e2e.phone_support import follower_writes_in
from tests.factories import make_dealer, make_follower, make_staff
from tests.integration.customer_support import bind, make_customer, make_vehicle

pytestmark = pytest.mark.e2e
SHOTS = Path("/tmp/shots/bench")


def _shot(page: Any, name: str) -> None:
    screenshot(page, f"campaign-journey-{name}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _owner_from_phone(page: Any, dealer: Any) -> None:
    """A new follower in the phone simulator who writes in (the 48-hour window opens), bound to a Hangzhou owner."""
    f = follower_writes_in(page, dealer)
    owner = make_customer(dealer, name="王建国", gender="male", city="杭州", stage="owner")
    make_vehicle(owner, model="Model Y")
    bind(owner, f)


def test_segment_compose_launch_progress_and_phone(page: Any, live_server: Any, app_ctx: Any,
                                                   settings: Any) -> None:
    from scrm.outbox.worker import drain

    dealer = make_dealer(name="杭州西湖店")
    _owner_from_phone(page, dealer)
    make_customer(dealer, name="赵敏", city="杭州")                 # in the segment, but not on WeChat
    outsider = make_follower(dealer_id=dealer.id, interaction_kind="message")
    sandbox.add_follower(settings.accounts["demo"].app_id, outsider.openid, interaction="message")
    bind(make_customer(dealer, name="李娜", gender="female", city="上海"), outsider)
    sign_in(page, make_staff(Role.DEALER_MANAGER, dealer=dealer).username)

    # 1. the segment, built in the builder with its live count
    page.goto("/admin/segments/new")
    page.fill("#name", "杭州车主")
    top = page.locator("#builder .seg-depth-1")
    top.locator("> .seg-group-actions .seg-add-rule").click()
    rule = top.locator("> .seg-rules > .seg-rule").first
    expect(rule.locator(".seg-field")).to_have_value("city")
    rule.locator(".seg-value input").fill("杭州")
    expect(page.locator("#count-contacts")).to_have_text("2")      # 王建国 and 赵敏
    expect(page.locator("#count-reachable")).to_have_text("1")     # only 王建国 can be sent to
    _shot(page, "segment-builder")
    page.click("#save")
    page.wait_for_url(re.compile(r".*/admin/segments/\d+$"))
    with db.transaction() as s:
        seg = s.scalar(sa.select(Segment).where(Segment.name == "杭州车主"))
        assert seg is not None
        seg_id = seg.id
    assert seg.definition == {"match": "all", "rules": [{"field": "city", "op": "eq", "value": "杭州"}]}

    # 2. the campaign, composed with a preview
    page.goto("/admin/campaigns/")
    page.click("#new-campaign")
    page.fill("#name", "冬季保养")
    page.select_option("#segment_id", str(seg_id))
    page.check("input[name=channel][value=custom]")
    page.fill("#v0_text", "{{ customer.salutation }}，您的{{ vehicle.model }}该做冬季保养了，{{ dealer.name }}恭候。")
    editor = page.locator(".compose[data-compose-prefix='v0_']")
    expect(editor).to_have_attribute("data-channel", "custom")
    preview_button = editor.locator(".compose-preview-btn")
    if preview_button.count() and preview_button.first.is_visible():
        preview_button.first.click()
    expect(editor.locator(".compose-screen")).to_contain_text("该做冬季保养了")
    _shot(page, "compose-preview")
    page.click("#save-draft")
    expect(page.locator("#dry-audience")).to_have_text("1")
    _shot(page, "dry-run")

    # 3. launch and watch the progress while the outbox drains
    page.once("dialog", lambda d: d.accept())
    page.click("#launch")
    expect(page.locator("#progress")).to_be_visible()
    expect(page.locator("#progress-total")).to_have_text("1")
    _shot(page, "progress-start")
    assert drain() >= 1                     # the e2e server runs no worker: the test is the worker
    expect(page.locator("#progress-percent")).to_have_text("100%", timeout=15_000)
    expect(page.locator("#progress-counts li[data-key='sent'] strong")).to_have_text("1")
    _shot(page, "progress-done")

    # 4. the push on the owner's phone; nothing for the owner outside the segment
    page.goto("/sandbox/phone/?account=demo")
    push = page.locator(".phone-chat .msg:not(.me)", has_text="该做冬季保养了").last
    expect(push).to_contain_text("王先生")
    expect(push).to_contain_text("Model Y")
    expect(push).to_contain_text("杭州西湖店")
    _shot(page, "phone")
    assert sandbox.messages_for(settings.accounts["demo"].app_id, outsider.openid) == []
