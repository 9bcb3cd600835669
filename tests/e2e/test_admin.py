"""The admin shell in Chromium: sign in, dashboard, keyword replies, language switch, menu editor.

Screenshots of every page (1280 px wide, and the dashboard and keyword form at 390 px) land in
test-artifacts/screenshots/admin-*.png.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from scrm import db
from scrm.db import utcnow
from scrm.models import KeywordReply, MenuVersion, Role, SceneKind
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_dealer, make_follower, make_keyword, make_staff

pytestmark = pytest.mark.e2e


@pytest.fixture
def seeded(live_server: Any) -> dict[str, Any]:
    """Two dealers, followers from every kind of scene, a few replies, and a brand admin."""
    sh = make_dealer(code="SH001", name="上海浦东4S店", city="上海", phone="021-58880001")
    bj = make_dealer(code="BJ001", name="北京朝阳4S店", city="北京", phone="010-65550002")
    now = utcnow()
    kinds = [SceneKind.DEALER, SceneKind.DEALER, SceneKind.STAFF, SceneKind.REFERRAL, SceneKind.EVENT,
             SceneKind.NONE, SceneKind.OTHER]
    for i in range(23):
        kind = kinds[i % len(kinds)]
        make_follower(dealer_id=(sh if i % 2 else bj).id if kind != SceneKind.NONE else None, scene_kind=kind,
                      scene=f"dealer:{'SH001' if i % 2 else 'BJ001'}" if kind == SceneKind.DEALER else "",
                      subscribed_at=now - timedelta(days=i), last_interaction_at=now - timedelta(hours=3 * i),
                      subscribed=i % 9 != 4, remark="老客户" if i == 3 else "")
    make_keyword("地址", "{{ dealer.name }}地址：{{ dealer.address }}")
    make_keyword("保养", "保养预约请拨打 {{ dealer.phone }}", dealer_id=sh.id, priority=5)
    admin = make_staff(Role.BRAND_ADMIN, username="hq.admin", display_name="王总部")
    return {"sh": sh, "bj": bj, "admin": admin}


def test_admin_walkthrough(page: Any, seeded: dict[str, Any]) -> None:
    page.goto("/admin/")
    assert "/admin/login" in page.url  # not signed in: sent to the login page
    screenshot(page, "admin-login")
    sign_in(page, "hq.admin")
    assert page.locator("h1").first.inner_text() == "数据概览"
    assert page.locator("[data-stat=total]").inner_text() == "23"
    screenshot(page, "admin-dashboard")

    # Create a keyword reply, with a preview first.
    page.click("nav.sidenav >> text=关键词回复")
    page.click("text=新建回复")
    page.fill("#keyword", "试驾")
    page.fill("#text", "欢迎预约试驾！{{ dealer.name }} 电话 {{ dealer.phone }}")
    page.select_option("#dealer_id", str(seeded["sh"].id))
    page.click("button[value=preview]")
    assert "欢迎预约试驾！上海浦东4S店 电话 021-58880001" in page.locator("#preview .bubble").inner_text()
    screenshot(page, "admin-keyword-form")
    page.click("button[value=save]")
    page.wait_for_url("**/admin/keywords/")
    assert page.locator(".flash-success").inner_text() == "关键词回复“试驾”已创建。"
    screenshot(page, "admin-keywords")

    # Edit it: an invalid text is refused with the message next to the field, then a good one saves.
    page.click("tr[data-keyword=试驾] >> text=编辑")
    page.fill("#text", "{{ customer.name }} 您好")
    page.click("button[value=save]")
    assert "只能使用 dealer 和 now 两个变量" in page.locator(".field.has-error .field-error").inner_text()
    page.fill("#text", "试驾请拨打 {{ dealer.phone }}")
    page.click("button[value=save]")
    page.wait_for_url("**/admin/keywords/")
    with db.session() as s:
        row = s.scalar(sa.select(KeywordReply).where(KeywordReply.keyword == "试驾"))
        assert row is not None and row.text == "试驾请拨打 {{ dealer.phone }}" and row.dealer_id == seeded["sh"].id

    # Switch to English and back.
    page.click(".topbar .lang-switch button[value=en]")
    assert page.locator("h1").first.inner_text() == "Keyword replies"
    assert page.locator("nav.sidenav .nav-link.active").inner_text() == "Keyword replies"
    page.click(".topbar .lang-switch button[value=zh]")
    assert page.locator("h1").first.inner_text() == "关键词回复"

    # The menu editor: a name too long for WeChat is refused next to its row.
    page.click("nav.sidenav >> text=自定义菜单")
    page.fill("[id='b0.name']", "服务")
    page.select_option("[id='b0.type']", "")
    page.click(".menu-button[data-button='0'] [data-add-sub]")
    page.fill("[id='b0.s0.name']", "预约保养")
    page.select_option("[id='b0.s0.type']", "click")
    page.fill("[id='b0.s0.key']", "BOOK_SERVICE")
    page.fill("[id='b1.name']", "这是一个名字特别长的菜单按钮")
    page.select_option("[id='b1.type']", "click")
    page.fill("[id='b1.key']", "TOO_LONG")
    page.click("#menu-form button[type=submit].btn-primary")
    error = page.locator("[data-row='b1'] .field-error")
    assert error.count() >= 1 and "16" in error.first.inner_text()
    screenshot(page, "admin-menu-error")
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count(MenuVersion.id))) == 0  # nothing saved
    page.fill("[id='b1.name']", "关于我们")
    page.click("#menu-form button[type=submit].btn-primary")
    assert "菜单已保存" in page.locator(".flash-success").inner_text()
    screenshot(page, "admin-menu")

    # A dealer QR code: the ticket comes from the (sandbox) WeChat API and its image shows.
    page.goto("/admin/account/")
    page.select_option("#dealer_id", str(seeded["sh"].id))
    page.fill("#label", "展厅入口")
    page.click("#qr-create button[type=submit]")
    assert "二维码“展厅入口”已生成。" in page.locator(".flash-success").inner_text()
    img = page.locator(".qr-card[data-scene='dealer:SH001'] img")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
    screenshot(page, "admin-account")

    for path, name in [("/admin/followers/", "followers"),
                       ("/admin/staff/", "staff"), ("/admin/staff/new", "staff-new"), ("/admin/dealers/", "dealers"),
                       (f"/admin/dealers/{seeded['sh'].id}/edit", "dealer-edit"), ("/admin/audit/", "audit")]:
        resp = page.goto(path)
        assert resp is not None and resp.status == 200, path
        screenshot(page, f"admin-{name}")
    assert page.locator("#audit-table tr[data-action='keyword.create']").count() == 1

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/admin/")
    screenshot(page, "admin-dashboard-390")
    page.click("label.nav-button")
    expect(page.locator("nav.sidenav")).to_be_visible()
    screenshot(page, "admin-nav-390")
    page.goto("/admin/keywords/new")
    screenshot(page, "admin-keyword-form-390")
    page.goto("/admin/followers/")
    screenshot(page, "admin-followers-390")

    # Sign out is a POST; afterwards the admin is closed again.
    page.set_viewport_size({"width": 1280, "height": 860})
    page.click(".topbar form.logout button")
    page.wait_for_url("**/admin/login**")
    page.goto("/admin/")
    assert "/admin/login" in page.url
