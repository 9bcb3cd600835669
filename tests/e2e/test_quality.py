"""Data quality in Chromium: open the report, open a candidate pair, merge it, see the survivor's 360 view
with the merged vehicle and the merge in the timeline, then unmerge. Screenshots: quality-*.png."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from scrm.db import utcnow
from scrm.models import Role, Stage
from scrm.services import duplicates
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_dealer, make_staff
from tests.integration.customer_support import make_customer, make_repair_order, make_vehicle

pytestmark = pytest.mark.e2e


@pytest.fixture
def seeded(live_server: Any) -> dict[str, Any]:
    dealer = make_dealer(code="SH002", name="上海虹桥4S店")
    old = utcnow() - timedelta(days=400)
    zhang = make_customer(dealer, name="张伟", mobile="13812345678", city="上海", stage=Stage.OWNER, tags=["老客户"],
                          created_at=old, updated_at=old)
    make_vehicle(zhang, plate="沪A12345", brand="大众", model="帕萨特", vin="LSVAU218XN2183294")
    dup = make_customer(dealer, name="章伟", mobile="13912345670", birthday=date(1984, 6, 2), tags=["VIP"])
    v = make_vehicle(dup, plate="沪AD67890", brand="大众", model="ID.4 CROZZ")
    make_vehicle(dup, plate="沪A12345", brand="大众", model="帕萨特")
    make_repair_order(dup, date.today() - timedelta(days=30), vehicle_id=v.id, type="首保", amount=0, advisor="陈师傅")
    wang = make_customer(dealer, name="王芳", mobile="13700001111", birthday=date(1990, 1, 1))
    make_customer(dealer, name="王芳", mobile="13700001112", birthday=date(1990, 1, 1))
    make_customer(dealer, name="刘洋", mobile="1370000")  # a bad mobile for the validity figure
    duplicates.detect(dealer.id)
    make_staff(Role.DEALER_MANAGER, dealer=dealer, username="sh.manager", display_name="王经理")
    return {"zhang": zhang, "dup": dup, "wang": wang}


def test_report_compare_merge_360_unmerge(page: Any, seeded: dict[str, Any]) -> None:
    zhang, dup = seeded["zhang"], seeded["dup"]
    page.on("dialog", lambda d: d.accept())
    sign_in(page, "sh.manager")
    page.click("nav.sidenav >> text=数据质量")
    page.wait_for_url("**/admin/quality/")
    assert "80.0%" in page.inner_text("tr[data-field='customer.mobile']")  # 4 of 5 mobiles valid
    assert page.inner_text(".dq-kpis").count("2") >= 1
    screenshot(page, "quality-report")

    page.click(".dq-tabs >> text=疑似重复")
    page.wait_for_url("**/admin/quality/pairs")
    assert page.locator("#pairs tbody tr").count() == 2
    screenshot(page, "quality-pairs")
    page.click("#pairs tr:has-text('章伟') >> text=比对")
    page.wait_for_url("**/admin/quality/pairs/*")
    assert "姓名同音" in page.inner_text(".dq-reasons") and "车牌相同" in page.inner_text(".dq-reasons")
    assert "2 辆车" in page.inner_text("#compare tr[data-field=vehicles]")
    assert "13812345678" in page.inner_text("#compare")  # managers see whole mobiles
    screenshot(page, "quality-compare")

    page.check(f"input[name=survivor][value='{zhang.id}']")
    page.click("#merge-btn")
    page.wait_for_url(f"**/admin/customers/{zhang.id}")
    assert page.locator("#vehicles .vehicle").count() == 2  # 沪A12345 was on both records: kept once
    assert "沪AD67890" in page.inner_text("#vehicles") and "LSVAU218XN2183294" in page.inner_text("#vehicles")
    timeline = page.inner_text("#timeline")
    assert "与另一条客户记录合并" in timeline and f"客户 #{dup.id}（章伟）已合并到本记录" in timeline
    assert "首保" in page.inner_text("#repairs")
    screenshot(page, "quality-merged-360")

    page.click("#merges li[data-merge] >> text=撤销合并")
    page.wait_for_url(f"**/admin/customers/{zhang.id}")
    assert page.locator("#vehicles .vehicle").count() == 1
    assert "已撤销合并" in page.inner_text(".flash-success, .flash")
    assert "张伟" in page.inner_text("h1")
    screenshot(page, "quality-unmerged-360")

    page.goto("/admin/quality/merges")
    assert "已撤销" in page.inner_text("#merges")
    screenshot(page, "quality-merges")
