"""The menu editor: rows to WeChat JSON, validation next to the rows, save, push to the sandbox."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, MenuVersion, Role
from scrm.sandbox import state as sandbox
from tests.integration.admin_support import post, signed_in, text

pytestmark = pytest.mark.integration

ROWS = {
    "b0.name": "预约", "b0.type": "",
    "b0.s0.name": "预约保养", "b0.s0.type": "click", "b0.s0.key": "BOOK_SERVICE",
    "b0.s1.name": "预约试驾", "b0.s1.type": "view", "b0.s1.url": "https://example.com/drive",
    "b2.name": "我的", "b2.type": "click", "b2.key": "MY_ACCOUNT",
}


def _versions() -> list[MenuVersion]:
    db.session.remove()
    return list(db.session.scalars(sa.select(MenuVersion).order_by(MenuVersion.id)))


def _row(page: str, prefix: str) -> str:
    """The HTML of one editor row (up to the next row)."""
    start = page.index(f'data-row="{prefix}"')
    end = page.find("data-row=", start + 10)
    return page[start:end if end > 0 else None]


def test_save_turns_rows_into_wechat_buttons(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    resp = post(client, "/admin/menu/", ROWS)
    assert resp.status_code == 303
    [version] = _versions()
    assert version.buttons == [
        {"name": "预约", "sub_button": [{"type": "click", "name": "预约保养", "key": "BOOK_SERVICE"},
                                       {"type": "view", "name": "预约试驾", "url": "https://example.com/drive"}]},
        {"type": "click", "name": "我的", "key": "MY_ACCOUNT"},
    ]
    page = text(client.get("/admin/menu/"))
    assert "菜单已保存" in page and 'value="BOOK_SERVICE"' in page and "尚未发布到微信" in page
    db.session.remove()
    saves = sa.select(sa.func.count()).select_from(AuditLog).where(AuditLog.action == "menu.save")
    assert db.session.scalar(saves) == 1


def test_problems_show_next_to_their_rows_and_nothing_is_saved(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    bad = {**ROWS, "b0.s1.url": "not-a-link", "b2.name": "一个特别特别长的名字", "b1.s0.name": "孤儿子菜单",
           "b1.s0.type": "click", "b1.s0.key": "X"}
    resp = post(client, "/admin/menu/", bad)
    assert resp.status_code == 422
    page = text(resp)
    assert _row(page, "b0.s1").count('class="field-error" data-field="url"') == 1
    assert _row(page, "b2").count('class="field-error" data-field="name"') == 1
    assert _row(page, "b1").count('class="field-error" data-field="name"') == 1  # a sub-menu needs a parent name
    assert "field-error" not in _row(page, "b0.s0")
    assert 'value="not-a-link"' in _row(page, "b0.s1")  # what was typed is kept
    assert _versions() == []


def test_too_many_buttons_cannot_even_be_submitted(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    rows = {**ROWS, **{f"b0.s{j}.name": f"子{j}" for j in range(5)}, **{f"b0.s{j}.type": "click" for j in range(5)},
            **{f"b0.s{j}.key": f"K{j}" for j in range(5)}, "b0.s5.name": "第六个", "b3.name": "第四个"}
    assert post(client, "/admin/menu/", rows).status_code == 303
    [version] = _versions()
    assert len(version.buttons) == 2 and len(version.buttons[0]["sub_button"]) == 5  # extra rows are not read


def test_sync_pushes_to_the_sandbox(client: Any, live_server: Any, settings: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    post(client, "/admin/menu/", ROWS)
    resp = post(client, "/admin/menu/sync", follow=True)
    assert "菜单已发布到微信" in text(resp)
    assert "已于" in text(resp) and "发布到微信" in text(resp)
    menu = sandbox.menu_for(settings.accounts["demo"].app_id)
    assert menu is not None and [b["name"] for b in menu["button"]] == ["预约", "我的"]
    assert _versions()[0].synced_at is not None


def test_sync_failure_is_a_friendly_message(client: Any, live_server: Any, settings: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    post(client, "/admin/menu/", ROWS)
    sandbox.set_quota(settings.accounts["demo"].app_id, "menu_create", 0)
    resp = post(client, "/admin/menu/sync", follow=True)
    page = text(resp)
    assert resp.status_code == 200 and 'class="flash flash-error"' in page and "上次发布失败" in page
    assert sandbox.menu_for(settings.accounts["demo"].app_id) is None
    db.session.remove()
    actions = list(db.session.scalars(sa.select(AuditLog.action).where(AuditLog.action.startswith("menu."))))
    assert actions == ["menu.save", "menu.sync_failed"]


@pytest.mark.parametrize("role", [Role.DEALER_MANAGER, Role.DEALER_STAFF])
def test_dealer_roles_read_the_menu_but_cannot_change_it(client: Any, role: Role, live_server: Any,
                                                          settings: Any) -> None:
    signed_in(client, role)
    page = text(client.get("/admin/menu/"))
    assert "只有品牌管理员可以修改菜单。" in page and "同步到微信" not in page and " disabled" in page
    assert post(client, "/admin/menu/", ROWS).status_code == 403
    assert post(client, "/admin/menu/sync").status_code == 403
    assert _versions() == []
    assert sandbox.menu_for(settings.accounts["demo"].app_id) is None
