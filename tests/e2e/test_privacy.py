"""PIPL in Chromium: a manager opens a customer, exports the data (a ZIP downloads), erases it after
typing the customer number, sees the erased state and the request log.
Screenshots: test-artifacts/screenshots/privacy-*.png."""

from __future__ import annotations

import json
import zipfile
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
    dealer = make_dealer(code="PV001", name="上海浦东4S店")
    zhang = make_customer(dealer, name="张伟", mobile="13812345678", stage=Stage.OWNER, city="上海",
                          tags=["VIP"], external_id="DMS-8801")
    v = make_vehicle(zhang, plate="沪A12345", vin="LSVAU218XN2183294", brand="大众", model="帕萨特")
    make_repair_order(zhang, date.today() - timedelta(days=40), vehicle_id=v.id, type="常规保养", amount=680,
                      advisor="陈师傅")
    follower = make_follower(dealer_id=dealer.id)
    bind(zhang, follower)
    with db.transaction() as s:
        s.add(MessageLog(account_id=zhang.account_id, follower_id=follower.id, direction=Direction.IN,
                         msg_type="text", content="请帮我删除我的资料", created_at=utcnow()))
    make_staff(Role.DEALER_MANAGER, dealer=dealer, username="pv.manager", display_name="王经理")
    return {"zhang": zhang}


def test_export_then_erase_a_customer(page: Any, seeded: dict[str, Any], tmp_path: Path) -> None:
    cid = seeded["zhang"].id
    sign_in(page, "pv.manager")
    page.goto(f"/admin/customers/{cid}")
    assert "13812345678" in page.inner_text("#profile")
    page.locator("#privacy").scroll_into_view_if_needed()
    screenshot(page, "privacy-panel")

    page.click("#privacy-export")
    page.wait_for_url(f"**/admin/privacy/customers/{cid}/export")
    page.fill("#reason", "客户到店书面申请，已核对身份证")
    screenshot(page, "privacy-export")
    with page.expect_download() as info:
        page.click("#export-form button[type=submit]")
    download = info.value
    assert download.suggested_filename.startswith(f"customer-{cid}-") and download.suggested_filename.endswith(".zip")
    saved = tmp_path / "export.zip"
    download.save_as(saved)
    with zipfile.ZipFile(saved) as zf:
        doc = json.loads(zf.read("customer.json"))
        assert "手机号" in zf.read("customer.csv").decode("utf-8-sig")
    assert doc["customer"][0]["mobile"] == "13812345678" and doc["vehicles"][0]["plate"] == "沪A12345"
    assert doc["messages"][0]["content"] == "请帮我删除我的资料"

    page.goto(f"/admin/customers/{cid}")
    page.click("#privacy-erase")
    page.wait_for_url(f"**/admin/privacy/customers/{cid}/erase")
    assert "1" in page.inner_text("#erase-plan")
    page.fill("#confirm", "0")
    page.fill("#reason", "客户书面申请删除")
    page.click("#erase-form button[type=submit]")
    assert f"请准确输入客户编号 {cid} 以确认" in page.inner_text("#erase-form")
    screenshot(page, "privacy-erase-mismatch")
    page.fill("#confirm", str(cid))
    page.check("#erase_messages")
    page.click("#erase-form button[type=submit]")
    page.wait_for_url(f"**/admin/customers/{cid}")
    assert "客户的个人信息已删除" in page.inner_text(".flashes")
    erased = page.inner_text("#erased")
    assert "该客户的个人信息已删除" in erased and "王经理" in erased and "客户书面申请删除" in erased
    body = page.inner_text("main")
    for personal in ("张伟", "13812345678", "沪A12345", "请帮我删除我的资料"):
        assert personal not in body
    screenshot(page, "privacy-erased-360")

    page.click("nav.sidenav >> text=隐私请求")
    page.wait_for_url("**/admin/privacy/")
    rows = page.locator("#privacy-table tbody tr")
    assert rows.count() == 2
    assert page.locator("#privacy-table tr[data-kind=erase]").count() == 1
    assert "客户到店书面申请" in page.inner_text("#privacy-table")
    screenshot(page, "privacy-requests")
