"""The menu service: versions, the config default, pushing to the sandbox, failures recorded."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.config import MenuButton
from scrm.models import AuditLog, MenuVersion, Role
from scrm.sandbox import state as sandbox
from scrm.services.accounts import account_id
from scrm.services.errors import DomainError
from scrm.services.menu import MenuInvalid, current_menu, save_menu, sync_menu
from tests.factories import make_staff
from tests.integration.outbox_helpers import account_at, closed_port, override_settings

pytestmark = pytest.mark.integration
MENU = [{"type": "click", "name": "预约保养", "key": "BOOK_SERVICE"},
        {"name": "车主服务", "sub_button": [{"type": "click", "name": "我的积分", "key": "POINTS"},
                                           {"type": "view", "name": "门店导航", "url": "https://dealer.example.com/map"}]}]
DEFAULT = (MenuButton(name="预约", type="click", key="BOOK"),
           MenuButton(name="更多", sub=(MenuButton(name="官网", type="view", url="https://brand.example.com/"),)))


@pytest.fixture
def aid(live_server: Any, app_ctx: Any) -> int:
    return account_id("demo")


def versions() -> list[MenuVersion]:
    db.session.remove()
    return list(db.session.scalars(sa.select(MenuVersion).order_by(MenuVersion.id)))


def audit_actions() -> list[str]:
    db.session.remove()
    return [a.action for a in db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id))]


def with_default_menu(settings: Any, menu: tuple[MenuButton, ...]) -> Any:
    demo = dataclasses.replace(settings.accounts["demo"], menu=menu)
    return override_settings(accounts={**settings.accounts, "demo": demo})


def test_current_menu_falls_back_to_the_config_default(aid: int, settings: Any) -> None:
    assert current_menu(aid) == []
    with with_default_menu(settings, DEFAULT):
        assert current_menu(aid) == [{"type": "click", "name": "预约", "key": "BOOK"},
                                     {"name": "更多", "sub_button": [{"type": "view", "name": "官网",
                                                                     "url": "https://brand.example.com/"}]}]


def test_save_creates_versions_and_the_newest_is_current(aid: int) -> None:
    staff = make_staff(Role.BRAND_ADMIN)
    first = save_menu(aid, MENU, staff.id)
    second = save_menu(aid, [{"type": "click", "name": " 只有一个 ", "key": " ONLY "}], staff.id, ip="10.0.0.9")
    assert second > first
    assert current_menu(aid) == [{"type": "click", "name": "只有一个", "key": "ONLY"}]
    rows = versions()
    assert [v.created_by for v in rows] == [staff.id, staff.id]
    assert all(v.synced_at is None for v in rows)
    assert audit_actions() == ["menu.save", "menu.save"]


def test_invalid_menu_is_refused_and_nothing_is_stored(aid: int) -> None:
    with pytest.raises(MenuInvalid) as exc:
        save_menu(aid, [{"type": "click", "name": "六个汉字太长", "key": ""}], None)
    assert [p.path for p in exc.value.problems] == ["button[0].name", "button[0].key"]
    assert versions() == []
    assert audit_actions() == []


def test_sync_pushes_to_wechat_and_records_it(aid: int, settings: Any) -> None:
    staff = make_staff(Role.BRAND_ADMIN)
    version_id = save_menu(aid, MENU, staff.id)
    sync_menu(aid, staff.id, ip="10.0.0.9")
    remote = sandbox.menu_for(settings.accounts["demo"].app_id)
    assert remote is not None
    assert [b["name"] for b in remote["button"]] == ["预约保养", "车主服务"]
    assert remote["button"][1]["sub_button"][1]["url"] == "https://dealer.example.com/map"
    [version] = versions()
    assert version.id == version_id and version.synced_at is not None and version.sync_error == ""
    assert audit_actions() == ["menu.save", "menu.sync"]


def test_sync_of_the_config_default_keeps_a_version(aid: int, settings: Any) -> None:
    with with_default_menu(settings, DEFAULT):
        sync_menu(aid)
    [version] = versions()
    assert version.created_by is None and version.synced_at is not None
    assert version.buttons[0] == {"type": "click", "name": "预约", "key": "BOOK"}
    assert sandbox.menu_for(settings.accounts["demo"].app_id) == {"button": version.buttons}


def test_sync_without_any_menu_is_a_clear_error(aid: int) -> None:
    with pytest.raises(MenuInvalid) as exc:
        sync_menu(aid)
    assert exc.value.problems[0].message == "There is no menu yet: add at least one button."
    assert versions() == []


def test_quota_exhausted_is_recorded_and_explained(aid: int, settings: Any) -> None:
    sandbox.set_quota(settings.accounts["demo"].app_id, "menu_create", 0)
    save_menu(aid, MENU, None)
    with pytest.raises(DomainError) as exc:
        sync_menu(aid)
    assert exc.value.message == ("WeChat's daily limit for menu changes has been reached. "
                                 "Please try again tomorrow.")
    [version] = versions()
    assert version.synced_at is None and "45009" in version.sync_error
    assert audit_actions() == ["menu.save", "menu.sync_failed"]
    assert sandbox.menu_for(settings.accounts["demo"].app_id) is None


def test_unreachable_wechat_is_recorded_and_explained(aid: int, settings: Any) -> None:
    save_menu(aid, MENU, None)
    down = account_at(settings.accounts["demo"], f"http://127.0.0.1:{closed_port()}")
    with override_settings(accounts={**settings.accounts, "demo": down}), pytest.raises(DomainError) as exc:
        sync_menu(aid)
    assert "could not be reached" in exc.value.message
    [version] = versions()
    assert version.synced_at is None and version.sync_error


def test_a_later_successful_sync_clears_the_error(aid: int, settings: Any) -> None:
    sandbox.set_quota(settings.accounts["demo"].app_id, "menu_create", 0)
    save_menu(aid, MENU, None)
    with pytest.raises(DomainError):
        sync_menu(aid)
    sandbox.set_quota(settings.accounts["demo"].app_id, "menu_create", 1000)
    sync_menu(aid)
    [version] = versions()
    assert version.sync_error == "" and version.synced_at is not None
