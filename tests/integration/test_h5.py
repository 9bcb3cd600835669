"""H5 pages: sign-in through the (sandbox's) WeChat web authorization over real HTTP, the account page."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from scrm.sandbox import state
from scrm.sandbox.rules import PHONE_COOKIE
from tests.factories import make_dealer, make_follower
from tests.integration.sandbox_api import DEMO_APP, SAFE_APP, get

pytestmark = pytest.mark.integration
OPENID = "oH5Reader00000000000000000001"


def _phone(app_id: str = DEMO_APP, openid: str = OPENID) -> requests.Session:
    state.add_follower(app_id, openid)
    s = requests.Session()
    s.cookies.set(PHONE_COOKIE + app_id, openid, path="/sandbox")
    return s


def _callback_url(live_server: Any, s: requests.Session, path: str = "/h5/demo/") -> str:
    """Walk our redirect and the authorize page by hand; return WeChat's redirect back to us."""
    first = s.get(live_server.url + path, allow_redirects=False, timeout=5)
    assert first.status_code == 302 and "/sandbox/wx/connect/oauth2/authorize?" in first.headers["Location"]
    query = parse_qs(urlsplit(first.headers["Location"]).query)
    assert query["scope"] == ["snsapi_base"] and query["appid"][0].startswith("wx")
    assert query["redirect_uri"][0].startswith(live_server.url + "/h5/")
    back = s.get(first.headers["Location"].split("#")[0], allow_redirects=False, timeout=5)
    assert back.status_code == 302
    return str(back.headers["Location"])


def test_signed_in_follower_sees_follow_status_and_dealer(live_server: Any, app_ctx: Any) -> None:
    dealer = make_dealer(name="上海浦东4S店", address="锦绣路100号", phone="021-55550000")
    make_follower(openid=OPENID, dealer_id=dealer.id)
    s = _phone()
    page = s.get(live_server.url + "/h5/demo/", timeout=10)
    assert page.status_code == 200 and page.url.split("#")[0] == live_server.url + "/h5/demo/"
    assert "你已关注本公众号" in page.text and "上海浦东4S店" in page.text and "tel:021-55550000" in page.text
    assert "oH5Rea" in page.text and OPENID not in page.text          # the openid is shown masked
    assert page.headers["Cache-Control"] == "no-store"
    again = s.get(live_server.url + "/h5/demo/", allow_redirects=False, timeout=5)
    assert again.status_code == 200                                   # remembered: no second round trip


def test_non_follower_is_told_to_follow(live_server: Any, app_ctx: Any) -> None:
    page = _phone().get(live_server.url + "/h5/demo/", timeout=10)
    assert page.status_code == 200 and "你还没有关注本公众号" in page.text and "你还没有绑定门店" in page.text


def test_safe_mode_account_and_return_to_the_asked_page(live_server: Any, app_ctx: Any) -> None:
    s = _phone(SAFE_APP)
    page = s.get(live_server.url + "/h5/safe/?from=menu", timeout=10)
    assert page.status_code == 200 and page.url.split("#")[0] == live_server.url + "/h5/safe/?from=menu"


def test_sign_ins_are_per_account(live_server: Any, app_ctx: Any) -> None:
    s = _phone()
    assert s.get(live_server.url + "/h5/demo/", timeout=10).status_code == 200
    assert s.get(live_server.url + "/h5/safe/", allow_redirects=False, timeout=5).status_code == 302


def test_wrong_state_is_refused_with_a_clear_page(live_server: Any, app_ctx: Any) -> None:
    s = _phone()
    back = _callback_url(live_server, s)
    forged = back.replace("state=", "state=x")
    page = s.get(forged, allow_redirects=False, timeout=5)
    assert page.status_code == 400 and "登录链接已失效" in page.text
    # the state was single-use: the genuine callback after a failed attempt is refused too
    assert s.get(back, allow_redirects=False, timeout=5).status_code == 400
    assert s.get(live_server.url + "/h5/demo/", allow_redirects=False, timeout=5).status_code == 302


def test_used_code_gets_a_clear_page(live_server: Any, app_ctx: Any) -> None:
    s = _phone()
    back = _callback_url(live_server, s)
    code = parse_qs(urlsplit(back).query)["code"][0]
    stolen = get(live_server, "sns/oauth2/access_token", None, appid=DEMO_APP, secret="demosecret", code=code,
                 grant_type="authorization_code")
    assert stolen["openid"] == OPENID
    page = s.get(back, allow_redirects=False, timeout=5)
    assert page.status_code == 400 and "已被使用" in page.text
    assert s.get(live_server.url + "/h5/demo/", allow_redirects=False, timeout=5).status_code == 302


def test_expired_code_gets_a_clear_page(live_server: Any, app_ctx: Any) -> None:
    s = _phone()
    back = _callback_url(live_server, s)
    state.advance(301)
    page = s.get(back, allow_redirects=False, timeout=5)
    assert page.status_code == 400 and "已过期" in page.text


def test_callback_without_code_or_pending_sign_in(live_server: Any, app_ctx: Any) -> None:
    s = _phone()
    back = _callback_url(live_server, s)
    no_code = back.split("?")[0] + "?state=" + parse_qs(urlsplit(back).query)["state"][0]
    assert s.get(no_code, timeout=5).status_code == 400
    fresh = requests.get(live_server.url + "/h5/demo/oauth/callback?code=abc&state=def", timeout=5)
    assert fresh.status_code == 400 and "重新打开页面" in fresh.text


def test_unknown_account_is_404(live_server: Any, app_ctx: Any) -> None:
    assert requests.get(live_server.url + "/h5/nope/", timeout=5).status_code == 404
    assert requests.get(live_server.url + "/h5/nope/oauth/callback", timeout=5).status_code == 404


def test_next_cannot_leave_the_account_pages(app: Any) -> None:
    from scrm.h5.auth import _safe_next

    acc = app.extensions["scrm.settings"].accounts["demo"]
    assert _safe_next(acc, "/h5/demo/bookings?x=1") == "/h5/demo/bookings?x=1"
    for bad in ("https://evil.example/", "//evil.example/h5/demo/", "/h5/safe/", "/h5/demo//evil", "/admin/", None):
        assert _safe_next(acc, bad) == "/h5/demo/"


def test_feature_links_appear_on_the_account_page(live_server: Any, app_ctx: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from scrm.h5 import links

    monkeypatch.setattr(links, "_links", {})
    links.register_link("h5.home", "我的预约", icon="✓", order=1)
    page = _phone().get(live_server.url + "/h5/demo/", timeout=10)
    assert 'class="h5-link" href="/h5/demo/"' in page.text and "我的预约" in page.text
