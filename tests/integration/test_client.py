"""The WeChat API client against the sandbox's fake WeChat API over real HTTP."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from prometheus_client import REGISTRY

from scrm.sandbox import state as sandbox
from scrm.wechat.client import WeChatAPI, api_for
from scrm.wechat.errors import (
    AlreadySent,
    InvalidOpenid,
    NetworkError,
    QuotaExceeded,
    Unsubscribed,
    WeChatError,
    WindowClosed,
)
from scrm.wechat.http import scrub
from tests.integration.outbox_helpers import BlackHole, account_at, closed_port, seed_token

pytestmark = pytest.mark.integration
TEXT = {"msgtype": "text", "text": {"content": "您好，您的爱车保养已完成。"}}


@pytest.fixture
def api(live_server: Any, app_ctx: Any, settings: Any) -> WeChatAPI:
    return api_for(settings.accounts["demo"])


@pytest.fixture
def app_id(settings: Any) -> str:
    return str(settings.accounts["demo"].app_id)


def calls(endpoint: str, errcode: str) -> float:
    value = REGISTRY.get_sample_value("scrm_wechat_api_calls_total", {"endpoint": endpoint, "errcode": errcode})
    return value or 0.0


def test_api_for_is_cached_per_account(api: WeChatAPI, settings: Any) -> None:
    assert api_for(settings.accounts["demo"]) is api
    assert api_for(settings.accounts["safe"]) is not api
    base = api.client.API_BASE_URL
    assert base == f"{settings.accounts['demo'].api_base_url}/cgi-bin/"
    assert api.client.auto_retry is False
    assert api.client.timeout == 3.0


def test_send_custom_reaches_the_phone(api: WeChatAPI, app_id: str) -> None:
    sandbox.add_follower(app_id, "o_client_1")
    before = calls("message/custom/send", "0")
    api.send_custom("o_client_1", TEXT)
    msgs = sandbox.messages_for(app_id, "o_client_1")
    assert [(m["via"], m["body"]["content"]) for m in msgs] == [("custom", "您好，您的爱车保养已完成。")]
    assert calls("message/custom/send", "0") == before + 1


def test_custom_send_error_codes(api: WeChatAPI, app_id: str) -> None:
    with pytest.raises(InvalidOpenid) as exc:
        api.send_custom("o_nobody_knows", TEXT)
    assert exc.value.errcode == 40003
    sandbox.add_follower(app_id, "o_gone", subscribed=False, interaction=None)
    with pytest.raises(Unsubscribed):
        api.send_custom("o_gone", TEXT)
    sandbox.add_follower(app_id, "o_quiet", interaction=None)
    with pytest.raises(WindowClosed) as closed:
        api.send_custom("o_quiet", TEXT)
    assert closed.value.errcode == 45015
    sandbox.add_follower(app_id, "o_chatty")
    for _ in range(5):
        api.send_custom("o_chatty", TEXT)
    with pytest.raises(WindowClosed) as over:
        api.send_custom("o_chatty", TEXT)
    assert over.value.errcode == 45047
    assert len(sandbox.messages_for(app_id, "o_chatty")) == 5


def test_quota_exceeded_is_not_retried(api: WeChatAPI, app_id: str) -> None:
    sandbox.add_follower(app_id, "o_quota")
    sandbox.set_quota(app_id, "custom_send", 0)
    before = calls("message/custom/send", "45009")
    with pytest.raises(QuotaExceeded) as exc:
        api.send_custom("o_quota", TEXT)
    assert exc.value.errcode == 45009
    assert calls("message/custom/send", "45009") == before + 1
    assert sandbox.messages_for(app_id, "o_quota") == []


def test_template_send_with_client_msg_id_sends_once(api: WeChatAPI, app_id: str) -> None:
    sandbox.add_follower(app_id, "o_tpl", interaction=None)
    tid = sandbox.add_template(app_id, "保养完成通知", "车辆：{{thing1.DATA}}\n状态：{{thing2.DATA}}")
    body = {"template_id": tid, "url": "https://dealer.example.com/",
            "data": {"thing1": {"value": "沪A12345"}, "thing2": {"value": "已完成"}}}
    first = api.send_template("o_tpl", body, client_msg_id="scrm-1")
    again = api.send_template("o_tpl", body, client_msg_id="scrm-1")
    assert first["msgid"] and first == again
    msgs = sandbox.messages_for(app_id, "o_tpl")
    assert len(msgs) == 1
    assert msgs[0]["via"] == "template"
    assert str(msgs[0]["msgid"]) == first["msgid"]


def test_menu_round_trip_keeps_chinese(api: WeChatAPI, app_id: str) -> None:
    buttons = [{"type": "click", "name": "预约保养", "key": "BOOK"},
               {"name": "车主服务", "sub_button": [{"type": "view", "name": "官网",
                                                   "url": "https://dealer.example.com/"}]}]
    api.create_menu(buttons)
    assert sandbox.menu_for(app_id) is not None
    remote = api.get_menu()
    assert remote["menu"]["button"][0]["name"] == "预约保养"
    assert remote["menu"]["button"][1]["sub_button"][0]["url"] == "https://dealer.example.com/"
    api.delete_menu()
    assert sandbox.menu_for(app_id) is None
    assert api.get_menu() == {}


def test_connection_refused_is_a_network_error_sent_nowhere(app_ctx: Any, settings: Any) -> None:
    account = account_at(settings.accounts["demo"], f"http://127.0.0.1:{closed_port()}")
    seed_token(account, "seeded-token")
    api = WeChatAPI(account)
    with pytest.raises(NetworkError) as exc:
        api.send_custom("o_x", TEXT)
    assert exc.value.unknown_outcome is False
    assert "seeded-token" not in str(exc.value)


def test_a_send_that_times_out_has_an_unknown_outcome_and_is_not_retried(app_ctx: Any, settings: Any) -> None:
    with BlackHole() as hole:
        account = account_at(settings.accounts["demo"], hole.url)
        seed_token(account, "seeded-token")
        api = WeChatAPI(account)
        started = time.monotonic()
        with pytest.raises(NetworkError) as exc:
            api.send_custom("o_x", TEXT)
        elapsed = time.monotonic() - started
        assert exc.value.unknown_outcome is True
        assert hole.accepted == 1                     # one request, no retry
        assert 2.5 < elapsed < 6                      # the 3 s timeout


def test_reads_retry_network_errors_twice(app_ctx: Any, settings: Any) -> None:
    account = account_at(settings.accounts["demo"], f"http://127.0.0.1:{closed_port()}")
    seed_token(account, "seeded-token")
    api = WeChatAPI(account)
    before = calls("user/info", "network")
    with pytest.raises(NetworkError):
        api.user_info("o_x")
    assert calls("user/info", "network") == before + 3


def test_oauth_authorize_url_points_at_the_sandbox(api: WeChatAPI, settings: Any) -> None:
    url = api.oauth_authorize_url("https://h5.example.com/cb?x=1", "abc123", scope="snsapi_userinfo")
    base = settings.accounts["demo"].api_base_url
    assert url.startswith(base + "/connect/oauth2/authorize?appid=wxdemo0000000001&")
    assert "redirect_uri=https%3A%2F%2Fh5.example.com%2Fcb%3Fx%3D1" in url
    assert url.endswith("&scope=snsapi_userinfo&state=abc123#wechat_redirect")
    with pytest.raises(ValueError):
        api.oauth_authorize_url("https://h5.example.com/cb", "bad state!")
    with pytest.raises(ValueError):
        api.oauth_authorize_url("https://h5.example.com/cb", "s", scope="snsapi_login")
    with pytest.raises(ValueError):
        api.oauth_authorize_url("javascript:alert(1)", "s")


def test_real_accounts_use_wechat_hosts(app_ctx: Any, settings: Any) -> None:
    real = account_at(settings.accounts["demo"], "https://api.weixin.qq.com")
    api = WeChatAPI(real)
    assert api.qrcode_image_url("a b/c").startswith("https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=a%20b%2Fc")
    assert api.oauth_authorize_url("https://h5.example.com/cb", "s").startswith(
        "https://open.weixin.qq.com/connect/oauth2/authorize?")


def test_errors_never_carry_secrets() -> None:
    text = "GET /sns/oauth2/access_token?appid=wx1&secret=S3CRET&code=C0DE&access_token=T0KEN failed"
    cleaned = scrub(text)
    assert "S3CRET" not in cleaned and "C0DE" not in cleaned and "T0KEN" not in cleaned
    assert "appid=wx1" in cleaned


def test_qrcode_and_tags_validate_input(api: WeChatAPI) -> None:
    with pytest.raises(ValueError):
        api.create_qrcode("", permanent=True)
    with pytest.raises(ValueError):
        api.create_qrcode("x" * 65, permanent=False)
    with pytest.raises(ValueError):
        api.create_tag("")


def test_error_description_names_endpoint_and_code() -> None:
    err = WeChatError(40037, "invalid template_id", endpoint="message/template/send")
    assert str(err) == "message/template/send: [40037] invalid template_id"


def test_tags_and_mass_send_by_tag(api: WeChatAPI, app_id: str) -> None:
    for openid in ("o_m1", "o_m2", "o_m3"):
        sandbox.add_follower(app_id, openid)
    tag_id = api.create_tag("轩逸车主")
    api.tag_users(tag_id, ["o_m1", "o_m2"])
    body = {"msgtype": "text", "text": {"content": "本周六车主俱乐部活动"}, "tag_id": 999}
    result = api.mass_send_tag(tag_id, body, clientmsgid="scrm-mass-1")
    assert result["msg_id"]
    assert [m["via"] for m in sandbox.messages_for(app_id, "o_m1")] == ["mass"]
    assert [m["via"] for m in sandbox.messages_for(app_id, "o_m2")] == ["mass"]
    assert sandbox.messages_for(app_id, "o_m3") == []
    with pytest.raises(AlreadySent):                           # the same clientmsgid within 24 h
        api.mass_send_tag(tag_id, body, clientmsgid="scrm-mass-1")
    assert len(sandbox.messages_for(app_id, "o_m1")) == 1


def test_user_info_single_and_batch(api: WeChatAPI, app_id: str) -> None:
    sandbox.add_follower(app_id, "o_u1")
    sandbox.add_follower(app_id, "o_u2", subscribed=False, interaction=None)
    one = api.user_info("o_u1")
    assert one["subscribe"] == 1 and one["openid"] == "o_u1"
    assert api.user_info("o_u2") == {"subscribe": 0, "openid": "o_u2"}
    many = api.user_info_batch(["o_u1", "o_u2"] * 60)          # 120 -> two calls of at most 100
    assert len(many) == 120 and many[0]["openid"] == "o_u1"


def test_qrcodes(api: WeChatAPI) -> None:
    permanent = api.create_qrcode("dealer:D001", permanent=True)
    assert permanent["ticket"] and permanent["expire_seconds"] is None
    assert api.create_qrcode("dealer:D001", permanent=True)["ticket"] == permanent["ticket"]
    temporary = api.create_qrcode("ref:42", permanent=False, expire_seconds=3600)
    assert 3500 < temporary["expire_seconds"] <= 3600
    image = requests.get(api.qrcode_image_url(temporary["ticket"]), timeout=5)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"


def test_oauth_exchange(api: WeChatAPI, app_id: str, live_server: Any) -> None:
    sandbox.add_follower(app_id, "o_oauth")
    url = api.oauth_authorize_url(f"{live_server.url}/h5/demo/cb", "st4te")   # the authorised domain
    resp = requests.get(url.split("#")[0], cookies={f"sbx_wx_{app_id}": "o_oauth"}, allow_redirects=False, timeout=5)
    assert resp.status_code == 302
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert query["state"] == ["st4te"]
    data = api.oauth_exchange(query["code"][0])
    assert data["openid"] == "o_oauth" and data["scope"] == "snsapi_base"
    with pytest.raises(WeChatError) as used:
        api.oauth_exchange(query["code"][0])                   # single use
    assert used.value.errcode == 40163
    with pytest.raises(WeChatError):
        api.oauth_exchange("")
