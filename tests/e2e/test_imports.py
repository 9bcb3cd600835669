"""The import page in Chromium: a manager uploads a CSV with bad rows, the worker imports it, the job page
follows along by itself (JS poll), shows the counts, and the rejected-rows report downloads.

Screenshots: test-artifacts/screenshots/imports-*.png.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Customer, Role
from scrm.outbox.worker import drain
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_dealer, make_staff

pytestmark = pytest.mark.e2e
ROWS = [
    ["客户编号", "姓名", "手机号码", "车架号", "车牌号", "车型", "购车日期"],
    ["C001", "张伟", "13812345678", "LSVAM4186C2184841", "沪A12345", "帕萨特", "2021-05-06"],
    ["C002", "李娜", "13987654321", "", "沪AD12345", "ID.4", "2023-01-15"],
    ["C003", "王芳", "13600001111", "", "", "", ""],
    ["C004", "赵强", "12345", "", "", "", ""],                       # line 5: bad mobile
    ["C005", "孙丽", "13700001111", "", "", "", "2023年2月30日"],     # line 6: no such date
]


def _csv() -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(ROWS)
    return out.getvalue().encode("utf-8-sig")


def test_upload_watch_progress_and_download_the_report(page: Any, live_server: Any, tmp_path: Path) -> None:
    dealer = make_dealer(code="SH001", name="上海浦东4S店")
    make_staff(Role.DEALER_MANAGER, dealer=dealer, username="sh.manager", display_name="陈经理")
    sign_in(page, "sh.manager")

    page.get_by_role("link", name="数据导入").click()
    page.wait_for_url("**/admin/imports/")
    assert page.locator("h1").inner_text() == "数据导入"
    screenshot(page, "imports-empty")
    page.set_input_files("#f-file", files=[{"name": "浦东客户.csv", "mimeType": "text/csv", "buffer": _csv()}])
    page.click("#import-form button[type=submit]")
    page.wait_for_url("**/admin/imports/*")
    box = page.locator("#import-job")
    assert box.get_attribute("data-status") == "queued"
    assert "已加入导入队列" in page.locator(".flash-success").inner_text()
    screenshot(page, "imports-queued")

    drain()  # the worker's round: the page, still open, picks the result up by polling

    page.wait_for_selector("#import-job[data-status=done]")
    assert box.locator("[data-field=label]").inner_text() == "导入完成"
    counts = {name: box.locator(f"[data-field={name}]").inner_text()
              for name in ("created", "updated", "unchanged", "rejected", "percent")}
    assert counts == {"created": "3", "updated": "0", "unchanged": "0", "rejected": "2", "percent": "100%"}
    assert box.locator("[data-rows]").inner_text() == "文件共 5 行"
    row = page.locator("#import-jobs tr[aria-current=true]")
    assert row.locator("[data-cell=label]").inner_text() == "导入完成"
    assert row.locator("[data-cell=rejected]").inner_text() == "2"
    link = page.locator("#report-link")
    assert link.is_visible()
    screenshot(page, "imports-done")

    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == "浦东客户.rejected.csv"
    saved = tmp_path / "report.csv"
    download.save_as(saved)
    lines = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert lines[0][:3] == ["行号", "原因", "客户编号"]
    assert [(r[0], r[3]) for r in lines[1:]] == [("5", "赵强"), ("6", "孙丽")]

    db.session.remove()
    assert sorted(db.session.scalars(sa.select(Customer.name))) == ["张伟", "李娜", "王芳"]
    page.reload()  # a fresh load of a finished job shows the same numbers without the poll
    assert page.locator("[data-field=rejected]").inner_text() == "2"
    assert page.locator("#import-jobs tbody tr").count() == 1
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "imports-done-mobile")


def test_repair_order_upload_with_bad_rows_shows_the_report(page: Any, live_server: Any) -> None:
    from tests.integration.customer_support import make_customer, make_vehicle

    dealer = make_dealer(code="SH002", name="上海徐汇4S店")
    owner = make_customer(dealer, name="张伟", external_id="C001")
    make_vehicle(owner, vin="LSVAM4186C2184841", plate="沪A12345")
    make_staff(Role.DEALER_MANAGER, dealer=dealer, username="xh.manager", display_name="王经理")
    rows = [["工单号", "结算日期", "维修类型", "结算金额", "进厂里程", "服务顾问", "车架号", "车牌号", "客户编号"],
            ["RO1", "2024-03-05", "保养", "¥1,200.00", "12,000", "陈顾问", "LSVAM4186C2184841", "", ""],
            ["RO2", "2024/4/1", "维修", "860", "13500", "陈顾问", "", "沪A12345", ""],
            ["RO3", "2024-02-30", "钣喷", "300", "", "", "", "", "C001"],        # line 4: no such date
            ["RO4", "2024-05-01", "保险理赔", "-20", "", "", "", "", "C001"],     # line 5: negative amount
            ["RO5", "2024-05-02", "保养", "500", "", "", "", "", "C404"]]          # line 6: no such customer
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    sign_in(page, "xh.manager")
    page.goto("/admin/imports/")
    page.select_option("#f-kind", "repair_orders")
    page.set_input_files("#f-file", files=[{"name": "工单.csv", "mimeType": "text/csv",
                                            "buffer": out.getvalue().encode("utf-8-sig")}])
    screenshot(page, "imports-repairs-form")
    page.click("#import-form button[type=submit]")
    page.wait_for_url("**/admin/imports/*")
    drain()
    page.wait_for_selector("#import-job[data-status=done]")
    box = page.locator("#import-job")
    assert box.locator("[data-field=created]").inner_text() == "2"
    assert box.locator("[data-field=rejected]").inner_text() == "3"
    assert "新增工单" in box.inner_text()
    assert page.locator("#report-link").is_visible()
    screenshot(page, "imports-repairs-done")
