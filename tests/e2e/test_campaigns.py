"""Campaigns in Chromium: a manager writes a campaign for a segment with a personal text, previews it, reads the
dry run, launches, watches the progress bar reach 100% while the outbox drains, and the owner's phone in the
simulator shows the message."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from scrm import db
from scrm.models import Campaign, CampaignStatus, Role, Segment
from scrm.services.accounts import account_id
from tests.e2e.conftest import screenshot, sign_in
from tests.e2e.phone_support import follower_writes_in
from tests.factories import make_dealer, make_staff
from tests.integration.customer_support import bind, make_customer

pytestmark = pytest.mark.e2e
SHOTS = "/tmp/shots/campaigns_pages"


def _shot(page: Any, name: str) -> None:
    screenshot(page, f"campaigns-{name}")
    from pathlib import Path
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def _owner_from_phone(page: Any, dealer: Any) -> None:
    """A new follower in the phone simulator who writes in (the 48-hour window opens), bound to a customer."""
    f = follower_writes_in(page, dealer)
    customer = make_customer(dealer, name="王建国", gender="male", city="杭州")
    bind(customer, f)


def test_compose_launch_watch_progress_and_receive(page: Any, live_server: Any, app_ctx: Any) -> None:
    from scrm.jobs.campaign_jobs import tick
    from scrm.outbox.worker import drain

    dealer = make_dealer(name="杭州西湖店")
    _owner_from_phone(page, dealer)
    with db.transaction() as s:
        seg = Segment(account_id=account_id("demo"), dealer_id=dealer.id, name="杭州车主", last_count=1,
                      definition={"match": "all", "rules": [{"field": "city", "op": "eq", "value": "杭州"}]})
        s.add(seg)
        s.flush()
        seg_id = seg.id
    sign_in(page, make_staff(Role.DEALER_MANAGER, dealer=dealer).username)

    page.goto("/admin/campaigns/")
    expect(page.locator(".empty")).to_be_visible()
    _shot(page, "list-empty")
    page.click("#new-campaign")
    page.fill("#name", "秋季保养提醒")
    page.select_option("#segment_id", str(seg_id))
    page.check("input[name=channel][value=custom]")
    page.fill("#v0_text", "{{ customer.salutation }}，秋季保养季到了，本周到店立享工时八折。")
    expect(page.locator("#variants .compose[data-compose-prefix='v0_']")).to_have_attribute("data-channel", "custom")
    page.click("#add-variant")                                   # an A/B test: B appears with 50/50 shares
    expect(page.locator(".camp-variant[data-variant='1']")).to_be_visible()
    expect(page.locator("#v0_weight")).to_have_value("50")
    _shot(page, "form-ab")
    page.click("#remove-variant")
    expect(page.locator(".camp-variant[data-variant='1']")).to_be_hidden()
    preview = page.locator(".compose[data-compose-prefix='v0_'] .compose-preview-btn")
    if preview.count() and preview.is_visible():
        preview.click()
        expect(page.locator(".compose[data-compose-prefix='v0_'] .compose-screen")).to_contain_text("秋季保养季")
    page.check("input[name=schedule][value=recurring]")
    expect(page.locator("#every")).to_be_visible()
    page.check("input[name=schedule][value=now]")
    expect(page.locator("#every")).to_be_hidden()
    _shot(page, "form")
    page.click("#save-draft")

    expect(page.locator("#dry-audience")).to_have_text("1")
    expect(page.locator("#dry-mix")).to_contain_text("1")
    _shot(page, "dry-run")
    page.once("dialog", lambda d: (d.message.find("1") >= 0 or pytest.fail(d.message), d.accept()))
    page.click("#launch")
    expect(page.locator("#progress")).to_be_visible()
    expect(page.locator(".flash-success")).to_contain_text("营销活动已发布")
    expect(page.locator("#progress-total")).to_have_text("1")
    _shot(page, "progress")

    assert drain() >= 1                                          # the outbox worker sends it to the sandbox
    expect(page.locator("#progress-percent")).to_have_text("100%", timeout=15_000)
    expect(page.locator("#progress-counts li[data-key='sent'] strong")).to_have_text("1")
    tick()                                                       # everything sent: the campaign is done
    with db.transaction() as s:
        cid = s.scalar(sa.select(Campaign.id).where(Campaign.segment_id == seg_id))
        done = s.get(Campaign, cid)
        assert done is not None and done.status == CampaignStatus.DONE
    expect(page.locator("#campaign-status")).to_have_attribute("data-status", "done", timeout=15_000)
    expect(page.locator("#results-table tr[data-arm='A']")).to_contain_text("1")
    _shot(page, "results")
    page.goto("/admin/campaigns/")
    expect(page.locator(f"#campaigns-table tr[data-campaign='{cid}']")).to_contain_text("秋季保养提醒")
    _shot(page, "list")

    page.goto("/sandbox/phone/?account=demo")
    expect(page.locator(".phone-chat .msg:not(.me)", has_text="秋季保养季到了").last).to_contain_text("王")
    _shot(page, "phone")
