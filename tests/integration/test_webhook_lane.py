"""The webhook's WSGI lane: what it answers itself, what it hands to Flask, and the headers it sends."""

from __future__ import annotations

from typing import Any

import pytest

from scrm.wechat.webhook import WebhookLane, query_args, read_body
from tests import wechat_xml as wx
from tests.integration.test_webhook_security import counter

pytestmark = pytest.mark.integration
OPENID = "oLane000000000000000000000001"


def test_the_lane_sits_in_front_of_flask(app: Any) -> None:
    assert isinstance(app.wsgi_app, WebhookLane)
    assert not any(rule.rule.startswith("/wechat/") for rule in app.url_map.iter_rules())


def test_a_reply_carries_the_headers_that_keep_it_from_being_sniffed_or_cached(client: Any, settings: Any) -> None:
    r = client.post("/wechat/demo", query_string=wx.signed_query(settings.accounts["demo"]),
                    data=wx.text_msg(OPENID, "帮助").encode(), content_type="text/xml")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-store"
    assert int(r.headers["Content-Length"]) == len(r.get_data())
    assert "<ToUserName><![CDATA[" + OPENID in r.get_data(as_text=True)


def test_other_methods_are_405_and_name_the_allowed_ones(client: Any, settings: Any) -> None:
    before = counter("bad_request")
    r = client.put("/wechat/demo", query_string=wx.signed_query(settings.accounts["demo"]), data=b"<xml/>")
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, POST"
    assert counter("bad_request") == before + 1


def test_paths_below_an_account_go_on_to_flask(client: Any) -> None:
    for path in ("/wechat/demo/extra", "/wechat/"):
        r = client.post(path, data=b"<xml/>")
        assert r.status_code == 404
        assert r.headers.get("Cache-Control") != "no-store"  # Flask's 404, not the lane's answer


def test_the_first_of_repeated_query_parameters_wins() -> None:
    assert query_args("a=1&b=&a=2&c=x+y%20z") == {"a": "1", "b": "", "c": "x y z"}


@pytest.mark.parametrize("query", ["", "a=1&b=2", "a&b=&=c", "a=1&a=2", "&&a=1&", "x==y", "a=%41&b=+", "k=v;w",
                                   "signature=ab&timestamp=1&nonce=x&openid=o&encrypt_type=aes&msg_signature=z"])
def test_query_args_reads_as_parse_qsl_with_or_without_anything_to_unquote(query: str) -> None:
    from urllib.parse import parse_qsl

    want: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        want.setdefault(name, value)
    assert query_args(query) == want


def test_the_body_is_read_to_its_declared_length() -> None:
    import io

    stream = io.BytesIO(b"<xml></xml>trailing")
    assert read_body({"CONTENT_LENGTH": "11", "wsgi.input": stream}) == b"<xml></xml>"
    assert stream.read() == b"trailing"


def test_the_signature_is_checked_against_the_first_of_repeated_parameters(client: Any, settings: Any) -> None:
    query = wx.signed_query(settings.accounts["demo"])
    raw = "&".join(f"{k}={v}" for k, v in query.items()) + "&signature=" + "0" * 40
    r = client.post(f"/wechat/demo?{raw}", data=wx.text_msg(OPENID, "帮助").encode(), content_type="text/xml")
    assert r.status_code == 200


def test_a_content_length_that_is_not_a_number_reads_as_no_body() -> None:
    import io

    environ = {"CONTENT_LENGTH": "12x", "wsgi.input": io.BytesIO(b"<xml></xml>")}
    assert read_body(environ) == b""


def test_a_declared_body_over_the_limit_is_not_read() -> None:
    class Exploding:
        def read(self, *_: Any) -> bytes:
            raise AssertionError("the body was read")

    assert read_body({"CONTENT_LENGTH": str(256 * 1024 + 1), "wsgi.input": Exploding()}) is None
