"""The customer pages in Chromium: find a customer by plate, open the 360 view, add a note, see it
on the timeline. Screenshots: test-artifacts/screenshots/customers-*.png."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from scrm import db
from scrm.db import utcnow
from scrm.models import Direction, MessageLog, Role, Stage
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_dealer, make_follower, make_staff
from tests.integration.customer_support import bind, make_customer, make_repair_order, make_vehicle

pytestmark = pytest.mark.e2e


@pytest.fixture
def seeded(live_server: Any) -> dict[str, Any]:
    """A dealer with a few customers, one of them bound and with service history."""
    dealer = make_dealer(code="SH001", name="上海浦东4S店")
    today = date.today()
    for i, (name, plate, model) in enumerate([("王芳", "沪B23456", "朗逸"), ("刘洋", "沪AF12345", "ID.4 CROZZ"),
                                               ("陈静", "沪C77889", "途观L")]):
        c = make_customer(dealer, name=name, stage=[Stage.LEAD, Stage.PROSPECT, Stage.OWNER][i],
                          tags=["试驾"] if i == 1 else [])
        make_vehicle(c, plate=plate, model=model)
    zhang = make_customer(dealer, name="张伟", mobile="13812345678", stage=Stage.OWNER, city="上海",
                          source="展厅到店", tags=["老客户", "VIP"], gender="male")
    v = make_vehicle(zhang, plate="沪A12345", vin="LSVAU218XN2183294", brand="大众", model="帕萨特", model_year=2022,
                     purchase_date=date(2022, 3, 18), mileage=23456, mileage_date=today - timedelta(days=40),
                     last_service_date=today - timedelta(days=40), last_service_mileage=23000,
                     insurance_expiry=today + timedelta(days=12), warranty_expiry=date(2025, 3, 17))
    make_repair_order(zhang, today - timedelta(days=40), vehicle_id=v.id, type="常规保养", amount=680,
                      mileage=23000, advisor="陈师傅")
    make_repair_order(zhang, date(2023, 3, 20), vehicle_id=v.id, type="首保", amount=0, mileage=5012,
                      advisor="陈师傅")
    follower = make_follower(dealer_id=dealer.id, openid="oWx3Zt_9kQm2Lp8Rv4Yn6Ab1Cd")
    bind(zhang, follower)
    now = utcnow()
    with db.transaction() as s:
        s.add(MessageLog(account_id=zhang.account_id, follower_id=follower.id, direction=Direction.IN,
                         msg_type="text", content="下次保养什么时候？", created_at=now - timedelta(hours=3)))
        s.add(MessageLog(account_id=zhang.account_id, follower_id=follower.id, direction=Direction.OUT,
                         msg_type="text", content="您的爱车将于 5000 公里后保养。",
                         created_at=now - timedelta(hours=3)))
    make_staff(Role.DEALER_STAFF, dealer=dealer, username="sh.staff", display_name="小李")
    return {"zhang": zhang}


def test_find_by_plate_open_360_and_add_a_note(page: Any, seeded: dict[str, Any]) -> None:
    sign_in(page, "sh.staff")
    page.click("nav.sidenav >> text=客户档案")
    page.wait_for_url("**/admin/customers/")
    assert page.locator("#customers-table tbody tr").count() == 4
    assert "138****5678" in page.inner_text("#customers-table")  # dealer staff see masked mobiles
    screenshot(page, "customers-list")

    page.fill("#c-q", "沪a 12345")
    page.click(".filters button[type=submit]")
    page.wait_for_url("**q=*")
    rows = page.locator("#customers-table tbody tr")
    assert rows.count() == 1
    assert "按车牌 沪A12345 搜索" in page.inner_text("#search-note")
    rows.first.locator("a").first.click()
    page.wait_for_url(f"**/admin/customers/{seeded['zhang'].id}")
    assert page.locator("h1").inner_text() == "张伟"
    assert "即将到期" in page.inner_text("#vehicles") and "已过期" in page.inner_text("#vehicles")
    assert "138****5678" in page.inner_text("#profile")
    assert page.locator("#tags-input").count() == 0  # dealer staff may not edit tags

    page.fill("#note-text", "客户周六上午来店做二保，顺便看看 ID.4")
    page.click(".note-form button[type=submit]")
    page.wait_for_url(f"**/admin/customers/{seeded['zhang'].id}*")
    assert "备注已添加到客户动态" in page.inner_text(".flashes")
    first = page.locator(".timeline .tl-item").first
    assert "员工备注" in first.inner_text() and "客户周六上午来店做二保" in first.inner_text()
    assert "小李" in first.inner_text()
    timeline = page.inner_text(".timeline")
    assert "下次保养什么时候？" in timeline and "您的爱车将于 5000 公里后保养。" in timeline
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "customers-360")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "customers-360-narrow")


def test_filter_by_tags_and_service_then_export(page: Any, seeded: dict[str, Any]) -> None:
    sign_in(page, "sh.staff")
    page.goto("/admin/customers/")
    page.fill("#c-tags", "试驾, VIP")
    page.click(".filters button[type=submit]")
    page.wait_for_url("**tags=*")
    names = page.locator("#customers-table tbody tr td:first-child a").all_inner_texts()
    assert sorted(names) == ["刘洋", "张伟"]  # any of the tags
    page.select_option("#c-service", "never")
    page.click(".filters button[type=submit]")
    page.wait_for_url("**service=never*")
    assert page.locator("#customers-table tbody tr td:first-child a").all_inner_texts() == ["刘洋"]
    screenshot(page, "customers-filtered")
    with page.expect_download() as info:
        page.click("#export-csv")
    body = Path(info.value.path()).read_text(encoding="utf-8-sig")
    lines = body.strip().splitlines()
    assert lines[0].startswith("客户姓名,手机号") and len(lines) == 2 and lines[1].startswith("刘洋,")
    assert info.value.suggested_filename.startswith("customers-")
