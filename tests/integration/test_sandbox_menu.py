"""menu/create|get|delete on the fake API: WeChat's validation and error codes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from scrm.sandbox import state
from tests.integration.sandbox_api import DEMO_APP, get, get_token, post, wx

pytestmark = pytest.mark.integration
CREATE = "cgi-bin/menu/create"

GOOD = [
    {"type": "click", "name": "预约保养", "key": "BOOK_SERVICE"},
    {"name": "车主服务", "sub_button": [
        {"type": "view", "name": "我的账户", "url": "https://dealer.example.com/h5/demo/"},
        {"type": "click", "name": "每日签到", "key": "CHECKIN"},
    ]},
    {"type": "scancode_push", "name": "扫一扫", "key": "SCAN"},
]


def test_create_get_delete_round_trip(live_server: Any) -> None:
    tok = get_token(live_server)
    assert post(live_server, CREATE, tok, {"button": GOOD})["errcode"] == 0
    assert state.menu_for(DEMO_APP) == {"button": GOOD}
    menu = get(live_server, "cgi-bin/menu/get", tok)["menu"]
    assert menu["button"][0] == {**GOOD[0], "sub_button": []}
    assert menu["button"][1]["sub_button"][0]["url"] == "https://dealer.example.com/h5/demo/"
    # what menu/get returns can be posted back unchanged
    assert post(live_server, CREATE, tok, {"button": menu["button"]})["errcode"] == 0
    info = get(live_server, "cgi-bin/get_current_selfmenu_info", tok)
    assert info["is_menu_open"] == 1
    assert info["selfmenu_info"]["button"][1]["sub_button"]["list"][1]["key"] == "CHECKIN"
    assert get(live_server, "cgi-bin/menu/delete", tok)["errcode"] == 0
    assert state.menu_for(DEMO_APP) is None
    assert get(live_server, "cgi-bin/menu/get", tok)["errcode"] == 46003


def _sub(**kw: Any) -> list[dict[str, Any]]:
    return [{"name": "服务", "sub_button": [{"type": "click", "name": "子菜单", "key": "K", **kw}]}]


@pytest.mark.parametrize(("buttons", "errcode"), [
    ([], 40016),
    ([{"type": "click", "name": "a", "key": "k"}] * 4, 40016),
    ([{"type": "tap", "name": "a", "key": "k"}], 40017),
    ([{"type": "click", "name": "保养预约五字", "key": "k"}], 40018),                # 18 bytes > 16
    ([{"type": "click", "name": "", "key": "k"}], 40018),
    ([{"type": "click", "name": "a", "key": "k" * 129}], 40019),
    ([{"type": "click", "name": "a"}], 40019),
    ([{"type": "view", "name": "a", "url": "https://x.cn/" + "p" * 1012}], 40020),
    ([{"type": "view", "name": "a", "url": "javascript:alert(1)"}], 40055),
    ([{"name": "服务", "sub_button": [{"type": "click", "name": "a", "key": "k"}] * 6}], 40023),
    (_sub(type="swipe"), 40024),
    (_sub(name="长" * 21), 40025),                                               # 63 bytes > 60
    (_sub(key="k" * 129), 40026),
    (_sub(type="view", url="https://x.cn/" + "p" * 1012), 40027),
    (_sub(type="view", url="ftp://x.cn/file"), 40054),
    (_sub(sub_button=[{"type": "click", "name": "deep", "key": "k"}]), 40022),
    ([{"type": "media_id", "name": "a"}], 40007),
    ("not a list", 47001),
])
def test_bad_menus_get_wechats_codes(live_server: Any, buttons: Any, errcode: int) -> None:
    tok = get_token(live_server)
    answer = post(live_server, CREATE, tok, {"button": buttons})
    assert answer["errcode"] == errcode, answer
    assert state.menu_for(DEMO_APP) is None


def test_limits_are_inclusive(live_server: Any) -> None:
    tok = get_token(live_server)
    buttons = [{"type": "click", "name": "保养预约", "key": "k" * 128},                 # 12 bytes
               {"name": "服务", "sub_button": [{"type": "view", "name": "长" * 20,      # 60 bytes
                                                "url": "https://x.cn/" + "p" * 1011}] * 5}]
    assert post(live_server, CREATE, tok, {"button": buttons})["errcode"] == 0


def test_escaped_unicode_is_refused_with_40033(live_server: Any) -> None:
    tok = get_token(live_server)
    r = requests.post(wx(live_server, CREATE), params={"access_token": tok}, timeout=5,
                      data=json.dumps({"button": GOOD}))           # ensure_ascii=True: \u9884...
    assert r.json()["errcode"] == 40033
    assert state.menu_for(DEMO_APP) is None


def test_menu_create_quota(live_server: Any) -> None:
    state.set_quota(DEMO_APP, "menu_create", 1)
    tok = get_token(live_server)
    assert post(live_server, CREATE, tok, {"button": GOOD})["errcode"] == 0
    assert post(live_server, CREATE, tok, {"button": GOOD[:1]})["errcode"] == 45009
    assert state.menu_for(DEMO_APP) == {"button": GOOD}
