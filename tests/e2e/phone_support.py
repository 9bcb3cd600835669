"""Phone-simulator steps shared by the browser tests."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from playwright.sync_api import expect

from scrm import db
from scrm.models import Dealer, Follower
from scrm.services.accounts import account_id


def follower_writes_in(page: Any, dealer: Dealer, label: str = "王先生") -> Follower:
    """A new follower in the phone simulator who follows and writes in (the 48-hour window opens); of `dealer`."""
    page.goto("/sandbox/phone/?account=demo")
    page.fill("#sbx-label", label)
    page.click("#sbx-new")
    page.click("#sbx-follow")
    expect(page.locator(".phone-chat .msg:not(.me)", has_text="欢迎关注").last).to_be_visible()
    if page.locator("#phone-to-input").is_visible():
        page.click("#phone-to-input")
    page.fill("#phone-text", "你好")
    page.keyboard.press("Enter")
    expect(page.locator(".phone-chat .msg.me", has_text="你好").last).to_be_visible()
    with db.transaction() as s:
        f = s.scalar(sa.select(Follower).where(Follower.account_id == account_id("demo"))
                     .order_by(Follower.id.desc()).limit(1))
        assert f is not None
        f.dealer_id = dealer.id
        s.flush()
        s.expunge(f)
    return f
