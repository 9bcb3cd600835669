"""The demo's menu is one WeChat accepts, and every click button reaches a handler."""

from __future__ import annotations

from typing import Any

from scrm.demo import demo_settings
from scrm.services.menu_rules import validate_menu


def _leaves(buttons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [sub for b in buttons for sub in (b.get("sub_button") or [b])]


def test_the_demo_menu_is_valid_and_every_key_has_a_handler() -> None:
    import handlers  # noqa: F401  (registers every menu key)
    from handlers.menu import HANDLERS

    settings = demo_settings("127.0.0.1", 5999, "sqlite:///unused.db")
    for slug in ("demo", "demo-safe"):
        buttons = [b.to_wechat() for b in settings.accounts[slug].menu]
        assert validate_menu(buttons) == []
        leaves = _leaves(buttons)
        views = [b["url"] for b in leaves if b["type"] == "view"]
        assert views and all(u.startswith("http://127.0.0.1:5999/h5/") for u in views)
        keys = {b["key"] for b in leaves if b["type"] == "click"}
        assert {"BOOK_SERVICE", "CHECKIN", "MY_POINTS", "CLUB_EVENTS", "REFERRAL"} <= keys
        assert sorted(k for k in keys if k not in HANDLERS) == ["PROMOTIONS"]  # a keyword reply answers it
