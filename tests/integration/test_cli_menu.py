"""`scrm menu sync` and `scrm menu show` through click's CliRunner against the live sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from scrm import runtime
from scrm.cli import main
from scrm.sandbox import state as sandbox
from scrm.services.accounts import account_id
from scrm.services.menu import save_menu
from tests.integration.outbox_helpers import to_toml

pytestmark = pytest.mark.integration
MENU = [{"type": "click", "name": "预约保养", "key": "BOOK_SERVICE"},
        {"type": "view", "name": "官网", "url": "https://dealer.example.com/"}]


@pytest.fixture
def config(live_server: Any, app_ctx: Any, settings: Any, settings_dict: dict[str, Any], tmp_path: Path) -> Any:
    """The test settings as a TOML file (the CLI builds its own app from it), restored afterwards."""
    path = tmp_path / "cli.toml"
    path.write_text(to_toml(settings_dict), encoding="utf-8")
    yield path
    runtime.init(settings)     # the command re-initialised the process's runtime: put ours back


def run(config: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["--config", str(config), "menu", *args], catch_exceptions=False)


def test_menu_sync_pushes_the_saved_menu(config: Path, settings: Any) -> None:
    save_menu(account_id("demo"), MENU, None)
    result = run(config, "sync", "--account", "demo")
    assert result.exit_code == 0, result.output
    assert "menu synced" in result.output
    pushed = json.loads(result.output.split("menu synced")[0])
    assert [b["name"] for b in pushed["button"]] == ["预约保养", "官网"]
    assert sandbox.menu_for(settings.accounts["demo"].app_id) == {"button": MENU}


def test_menu_show_local_and_remote(config: Path) -> None:
    version = save_menu(account_id("demo"), MENU, None)
    local = run(config, "show", "--account", "demo")
    assert local.exit_code == 0, local.output
    shown = json.loads(local.output)
    assert shown["source"] == "saved" and shown["version"] == version and shown["synced_at"] is None
    assert shown["button"] == MENU

    before = run(config, "show", "--account", "demo", "--remote")
    assert before.exit_code == 0 and json.loads(before.output) == {}
    assert run(config, "sync", "--account", "demo").exit_code == 0
    remote = json.loads(run(config, "show", "--account", "demo", "--remote").output)
    assert remote["menu"]["button"][0]["name"] == "预约保养"
    shown = json.loads(run(config, "show", "--account", "demo").output)
    assert shown["synced_at"] is not None


def test_invalid_menu_fails_with_the_problems(config: Path) -> None:
    save_menu(account_id("demo"), MENU, None)
    # Edit the stored version by hand into something WeChat would refuse.
    from scrm import db
    from scrm.models import MenuVersion

    with db.transaction() as s:
        version = s.scalars(sa.select(MenuVersion)).one()
        version.buttons = [{"type": "click", "name": "六个汉字太长", "key": "K"}]
    result = CliRunner().invoke(main, ["--config", str(config), "menu", "sync", "--account", "demo"])
    assert result.exit_code == 1
    assert "button[0].name: The name is too long: 18 bytes" in result.stderr


def test_unknown_account(config: Path) -> None:
    result = CliRunner().invoke(main, ["--config", str(config), "menu", "show", "--account", "nope"])
    assert result.exit_code == 1
    assert "no account 'nope'" in result.stderr
