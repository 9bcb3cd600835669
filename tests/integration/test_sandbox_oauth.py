"""The simulated web authorization: authorize page, code exchange rules, sns/userinfo."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from scrm.sandbox import state
from scrm.sandbox.rules import PHONE_COOKIE
from tests.integration.sandbox_api import DEMO_APP, get, wx

pytestmark = pytest.mark.integration
OPENID = "oPhoneHolder0000000000000001"


def _authorize(live_server: Any, session: requests.Session, **params: str) -> requests.Response:
    query = {"appid": DEMO_APP, "redirect_uri": f"{live_server.url}/h5/demo/oauth/callback?x=1",
             "response_type": "code", "scope": "snsapi_base", "state": "abc123", **params}
    return session.get(wx(live_server, "connect/oauth2/authorize"), params=query, allow_redirects=False, timeout=5)


def _phone(live_server: Any, openid: str = OPENID) -> requests.Session:
    state.add_follower(DEMO_APP, openid)
    s = requests.Session()
    s.cookies.set(PHONE_COOKIE + DEMO_APP, openid, path="/sandbox")
    return s


def _code(resp: requests.Response) -> str:
    assert resp.status_code == 302, resp.text[:300]
    target = urlsplit(resp.headers["Location"])
    query = parse_qs(target.query)
    assert target.path == "/h5/demo/oauth/callback" and query["state"] == ["abc123"] and query["x"] == ["1"]
    return query["code"][0]


def _exchange(live_server: Any, code: str, secret: str = "demosecret") -> dict[str, Any]:  # noqa: S107
    return get(live_server, "sns/oauth2/access_token", None, appid=DEMO_APP, secret=secret, code=code,
               grant_type="authorization_code")


def test_phone_holder_signs_in_silently_and_code_is_single_use(live_server: Any) -> None:
    s = _phone(live_server)
    code = _code(_authorize(live_server, s))
    answer = _exchange(live_server, code)
    assert answer["openid"] == OPENID and answer["scope"] == "snsapi_base" and answer["expires_in"] == 7200
    again = _exchange(live_server, code)
    assert again["errcode"] == 40163 and "openid" not in again


def test_unknown_and_expired_codes(live_server: Any) -> None:
    s = _phone(live_server)
    assert _exchange(live_server, "made-up")["errcode"] == 40029
    code = _code(_authorize(live_server, s))
    state.advance(301)
    assert _exchange(live_server, code)["errcode"] == 40029
    assert _exchange(live_server, "")["errcode"] == 41008
    assert _exchange(live_server, "x", secret="wrong")["errcode"] == 40125


def test_without_a_phone_cookie_the_page_offers_a_picker(live_server: Any) -> None:
    state.add_follower(DEMO_APP, OPENID, label="王先生")
    s = requests.Session()
    page = _authorize(live_server, s)
    assert page.status_code == 200 and "王先生" in page.text and 'value="new"' in page.text
    form = {"appid": DEMO_APP, "redirect_uri": f"{live_server.url}/h5/demo/oauth/callback?x=1",
            "scope": "snsapi_base", "state": "abc123", "openid": OPENID}
    picked = s.post(wx(live_server, "connect/oauth2/authorize"), data=form, allow_redirects=False, timeout=5,
                    headers={"Origin": live_server.url})
    assert _exchange(live_server, _code(picked))["openid"] == OPENID
    newcomer = s.post(wx(live_server, "connect/oauth2/authorize"), data={**form, "openid": "new"},
                      allow_redirects=False, timeout=5)
    fresh = _exchange(live_server, _code(newcomer))["openid"]
    assert fresh != OPENID and fresh.startswith("o") and len(fresh) == 28
    forged = s.post(wx(live_server, "connect/oauth2/authorize"), data=form, allow_redirects=False, timeout=5,
                    headers={"Origin": "http://evil.example"})
    assert forged.status_code == 400


@pytest.mark.parametrize(("params", "code"), [
    ({"redirect_uri": "https://evil.example/steal"}, "10003"),
    ({"redirect_uri": "javascript:alert(1)"}, "10003"),
    ({"redirect_uri": ""}, "10011"),
    ({"scope": "snsapi_login"}, "10005"),
    ({"scope": ""}, "10010"),
    ({"appid": "wxnobody"}, "10012"),
    ({"state": "not valid!"}, "10013"),
])
def test_authorize_errors_are_pages_not_redirects(live_server: Any, params: dict[str, str], code: str) -> None:
    resp = _authorize(live_server, _phone(live_server), **params)
    assert resp.status_code == 400 and code in resp.text and "Location" not in resp.headers


def test_userinfo_needs_the_userinfo_scope(live_server: Any) -> None:
    s = _phone(live_server)
    base = _exchange(live_server, _code(_authorize(live_server, s)))
    assert get(live_server, "sns/userinfo", base["access_token"], openid=OPENID)["errcode"] == 48001
    consent = _authorize(live_server, s, scope="snsapi_userinfo")
    assert consent.status_code == 200 and 'name="openid" value="' + OPENID in consent.text
    form = {"appid": DEMO_APP, "redirect_uri": f"{live_server.url}/h5/demo/oauth/callback?x=1",
            "scope": "snsapi_userinfo", "state": "abc123", "openid": OPENID}
    allowed = s.post(wx(live_server, "connect/oauth2/authorize"), data=form, allow_redirects=False, timeout=5)
    full = _exchange(live_server, _code(allowed))
    info = get(live_server, "sns/userinfo", full["access_token"], openid=OPENID, lang="zh_CN")
    assert info["openid"] == OPENID and info["nickname"] == "微信用户"
    assert get(live_server, "sns/userinfo", full["access_token"], openid="oOther")["errcode"] == 40003
    assert get(live_server, "sns/auth", full["access_token"], openid=OPENID)["errcode"] == 0
    state.advance(7201)
    assert get(live_server, "sns/auth", full["access_token"], openid=OPENID)["errcode"] == 42001
