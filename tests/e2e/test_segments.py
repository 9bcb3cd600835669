"""Segments in Chromium: build a segment with a condition and a nested OR group, watch the live count change,
look at the sample, save, reopen and find the same conditions; the list shows them in words."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from scrm import db
from scrm.models import Role, Segment
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_dealer, make_follower, make_staff
from tests.integration.customer_support import bind, make_customer, make_vehicle

pytestmark = pytest.mark.e2e


def _world() -> Any:
    dealer = make_dealer(name="上海浦东店")
    c1 = make_customer(dealer, name="张伟", city="上海", tags=["VIP"], stage="owner")
    c2 = make_customer(dealer, name="王芳", city="上海", stage="owner")
    c3 = make_customer(dealer, name="李娜", city="上海", stage="prospect")
    make_customer(dealer, name="刘洋", city="北京", tags=["VIP"])
    make_vehicle(c1, model="Model Y", mileage=5000)
    make_vehicle(c2, model="Model 3", mileage=30000)
    make_vehicle(c3, model="Model 3", mileage=1000)
    bind(c1, make_follower(dealer_id=dealer.id))
    return dealer


def _count(page: Any) -> Any:
    return page.locator("#count-contacts")


def test_build_count_save_and_reopen(page: Any) -> None:
    dealer = _world()
    sign_in(page, make_staff(Role.DEALER_MANAGER, dealer=dealer).username)
    page.goto("/admin/segments/")
    expect(page.locator(".empty")).to_contain_text("还没有客户分群")
    screenshot(page, "segments-list-empty")
    page.click("text=新建分群")
    page.wait_for_url("**/admin/segments/new")
    expect(page.locator("#count-problem")).to_contain_text("请至少添加一个条件")
    screenshot(page, "segments-builder-empty")
    page.fill("#name", "上海高价值车主")

    top = page.locator("#builder .seg-depth-1")
    top.locator("> .seg-group-actions .seg-add-rule").click()
    first = top.locator("> .seg-rules > .seg-rule").first
    expect(first.locator(".seg-field")).to_have_value("city")
    first.locator(".seg-value input").fill("上海")
    expect(_count(page)).to_have_text("3")

    top.locator("> .seg-group-actions .seg-add-group").click()
    inner = top.locator(".seg-depth-2")
    expect(inner.locator(".seg-match")).to_have_value("any")
    rule = inner.locator(".seg-rule").first
    rule.locator(".seg-field").select_option("tags")
    expect(rule.locator(".seg-op")).to_have_value("has_any")
    chip = rule.locator(".seg-chip-input")
    chip.fill("VIP")
    chip.press("Enter")
    expect(rule.locator(".seg-chip")).to_have_text(["VIP×"])
    expect(_count(page)).to_have_text("1")
    inner.locator("> .seg-group-actions .seg-add-rule").click()
    second = inner.locator(".seg-rule").nth(1)
    second.locator(".seg-field").select_option("mileage")
    second.locator(".seg-op").select_option("gte")
    second.locator(".seg-value input").fill("20000")
    expect(_count(page)).to_have_text("2")
    expect(page.locator("#count-reachable")).to_have_text("1")

    page.click("#show-sample")
    expect(page.locator("#sample-table tbody tr")).to_have_count(2)
    expect(page.locator("#sample-table")).to_contain_text("张伟")
    expect(page.locator("#sample-table")).to_contain_text("王芳")
    screenshot(page, "segments-builder-filled")
    second.locator(".seg-value input").fill("20001")            # the sample was of the old conditions
    expect(page.locator("#sample-panel")).to_be_hidden()
    second.locator(".seg-value input").fill("20000")
    expect(_count(page)).to_have_text("2")

    page.click("#save")
    page.wait_for_url(re.compile(r".*/admin/segments/\d+$"))
    expect(page.locator(".flash-success")).to_contain_text("上海高价值车主")
    with db.transaction() as s:
        seg = s.scalar(sa.select(Segment))
    assert seg is not None and seg.definition == {"match": "all", "rules": [
        {"field": "city", "op": "eq", "value": "上海"},
        {"match": "any", "rules": [{"field": "tags", "op": "has_any", "value": ["VIP"]},
                                   {"field": "mileage", "op": "gte", "value": 20000}]}]}
    top = page.locator("#builder .seg-depth-1")
    expect(top.locator("> .seg-rules > .seg-rule .seg-value input")).to_have_value("上海")
    inner = top.locator(".seg-depth-2")
    expect(inner.locator(".seg-rule .seg-field")).to_have_count(2)
    expect(inner.locator(".seg-rule").nth(0).locator(".seg-chip")).to_have_text(["VIP×"])
    expect(inner.locator(".seg-rule").nth(1).locator(".seg-op")).to_have_value("gte")
    expect(inner.locator(".seg-rule").nth(1).locator(".seg-value input")).to_have_value("20000")
    expect(_count(page)).to_have_text("2")
    assert json.loads(page.locator("#definition").input_value()) == seg.definition

    page.goto("/admin/segments/")
    row = page.locator(f"#segments-table tr[data-segment='{seg.id}']")
    expect(row).to_contain_text("城市 是 上海 且 (标签 包含任一 VIP 或 行驶里程 至少 20000 公里)")
    expect(row).to_contain_text("2")
    screenshot(page, "segments-list")
