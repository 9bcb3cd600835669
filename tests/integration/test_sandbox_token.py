"""The fake API's access tokens: cgi-bin/token and cgi-bin/stable_token, over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from scrm.sandbox import state
from tests.integration.sandbox_api import DEMO_APP, SAFE_APP, get, get_token, post, wx

pytestmark = pytest.mark.integration


def _menu_get(live_server: Any, token: str) -> int:
    return int(get(live_server, "cgi-bin/menu/get", token).get("errcode", 0))


def test_token_lifecycle_old_token_valid_five_minutes_then_invalid(live_server: Any) -> None:
    first = get_token(live_server)
    assert len(first) >= 100
    assert _menu_get(live_server, first) == 46003          # valid token; there is simply no menu
    second = get_token(live_server)
    assert second != first
    state.advance(299)
    assert _menu_get(live_server, first) == 46003          # the overlap: still valid
    state.advance(2)
    assert _menu_get(live_server, first) == 40001          # replaced for good
    assert _menu_get(live_server, second) == 46003


def test_token_expires_after_7200_seconds(live_server: Any) -> None:
    tok = get_token(live_server)
    state.advance(7201)
    assert _menu_get(live_server, tok) == 42001


def test_missing_and_unknown_tokens(live_server: Any) -> None:
    assert get(live_server, "cgi-bin/menu/get", None)["errcode"] == 41001
    assert _menu_get(live_server, "not-a-token") == 40001


@pytest.mark.parametrize(("params", "errcode"), [
    ({"grant_type": "password", "appid": DEMO_APP, "secret": "demosecret"}, 40002),
    ({"grant_type": "client_credential", "secret": "demosecret"}, 41002),
    ({"grant_type": "client_credential", "appid": "wxnobody", "secret": "demosecret"}, 40013),
    ({"grant_type": "client_credential", "appid": DEMO_APP}, 41004),
    ({"grant_type": "client_credential", "appid": DEMO_APP, "secret": "safesecret"}, 40125),
])
def test_token_bad_credentials(live_server: Any, params: dict[str, str], errcode: int) -> None:
    body = requests.get(wx(live_server, "cgi-bin/token"), params=params, timeout=5).json()
    assert body["errcode"] == errcode
    assert "rid:" in body["errmsg"]
    assert "access_token" not in body


def test_token_daily_quota(live_server: Any) -> None:
    state.set_quota(DEMO_APP, "token", 2)
    get_token(live_server)
    get_token(live_server)
    body = requests.get(wx(live_server, "cgi-bin/token"), timeout=5, params={
        "grant_type": "client_credential", "appid": DEMO_APP, "secret": "demosecret"}).json()
    assert body["errcode"] == 45009
    assert get_token(live_server, SAFE_APP, "safesecret")   # quotas are per account


def _stable(live_server: Any, force: bool = False, secret: str = "demosecret") -> dict[str, Any]:  # noqa: S107
    return post(live_server, "cgi-bin/stable_token", None,
                {"grant_type": "client_credential", "appid": DEMO_APP, "secret": secret, "force_refresh": force})


def test_stable_token_is_stable_and_isolated_from_token(live_server: Any) -> None:
    a = _stable(live_server)
    b = _stable(live_server)
    assert a["access_token"] == b["access_token"]
    assert 7100 < b["expires_in"] <= 7200
    plain = get_token(live_server)
    assert _menu_get(live_server, a["access_token"]) == 46003 and _menu_get(live_server, plain) == 46003
    state.advance(7200 - 299)                              # inside the last five minutes: renewed early
    c = _stable(live_server)
    assert c["access_token"] != a["access_token"] and c["expires_in"] > 7000
    assert _menu_get(live_server, a["access_token"]) == 46003   # the old one lives out its time


def _start_of_a_beijing_day() -> None:
    """Move the sandbox clock a minute past the next midnight in Beijing, where daily quotas reset: a test
    that counts calls over ten sandbox minutes must not cross it (it did when CI ran near 16:00 UTC)."""
    state.advance(86_400 - (state.now() + 8 * 3600) % 86_400 + 60)


def test_stable_token_force_refresh_rules(live_server: Any) -> None:
    _start_of_a_beijing_day()
    day = state.day_key()
    a = _stable(live_server)
    b = _stable(live_server, force=True)
    assert b["access_token"] != a["access_token"]
    assert _menu_get(live_server, a["access_token"]) == 40001   # forced refresh kills the old token
    c = _stable(live_server, force=True)
    assert c["access_token"] == b["access_token"]               # under 30 s apart: no refresh
    for _ in range(19):
        state.advance(31)
        assert "access_token" in _stable(live_server, force=True)
    state.advance(31)
    assert state.day_key() == day
    assert _stable(live_server, force=True)["errcode"] == 45009   # 21st forced refresh today
    assert "access_token" in _stable(live_server)                  # normal mode still answers


def test_stable_token_bad_input(live_server: Any) -> None:
    assert _stable(live_server, secret="wrong")["errcode"] == 40125
    r = requests.post(wx(live_server, "cgi-bin/stable_token"), data=b"{not json", timeout=5)
    assert r.json()["errcode"] == 47001
    r = requests.post(wx(live_server, "cgi-bin/stable_token"), data=b"", timeout=5)
    assert r.json()["errcode"] == 44002
