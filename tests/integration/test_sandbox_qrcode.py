"""qrcode/create rules and showqrcode's real PNG."""

from __future__ import annotations

import struct
from typing import Any

import pytest
import requests

from scrm.sandbox import state
from scrm.sandbox.api_qrcode import qr_png
from tests.integration.sandbox_api import DEMO_APP, get_token, post, wx

pytestmark = pytest.mark.integration
CREATE = "cgi-bin/qrcode/create"


def _qr(action: str, scene: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"action_name": action, "action_info": {"scene": scene}, **extra}


def test_temporary_and_permanent_codes(live_server: Any) -> None:
    tok = get_token(live_server)
    temp = post(live_server, CREATE, tok, _qr("QR_STR_SCENE", {"scene_str": "dealer:SH001"}, expire_seconds=3600))
    assert temp["expire_seconds"] == 3600 and temp["url"].startswith("http://weixin.qq.com/q/")
    default = post(live_server, CREATE, tok, _qr("QR_SCENE", {"scene_id": 4294967295}))
    assert default["expire_seconds"] == 60
    perm = post(live_server, CREATE, tok, _qr("QR_LIMIT_STR_SCENE", {"scene_str": "staff:7"}))
    assert "expire_seconds" not in perm
    again = post(live_server, CREATE, tok, _qr("QR_LIMIT_STR_SCENE", {"scene_str": "staff:7"}))
    assert again["ticket"] == perm["ticket"]            # one permanent ticket per scene
    assert post(live_server, CREATE, tok, _qr("QR_LIMIT_SCENE", {"scene_id": 100000}))["ticket"]


@pytest.mark.parametrize(("body", "errcode"), [
    (_qr("QR_FOREVER", {"scene_id": 1}), 40052),
    (_qr("QR_SCENE", {"scene_id": 0}), 40053),
    (_qr("QR_SCENE", {"scene_id": 4294967296}), 40053),
    (_qr("QR_LIMIT_SCENE", {"scene_id": 100001}), 40053),
    (_qr("QR_STR_SCENE", {"scene_str": ""}), 40053),
    (_qr("QR_STR_SCENE", {"scene_str": "x" * 65}), 40053),
    (_qr("QR_STR_SCENE", {"scene_str": "ok"}, expire_seconds=2592001), 40053),
    ({"action_name": "QR_SCENE"}, 40053),
])
def test_bad_qr_requests(live_server: Any, body: dict[str, Any], errcode: int) -> None:
    assert post(live_server, CREATE, get_token(live_server), body)["errcode"] == errcode


def test_longest_scene_and_expiry_accepted(live_server: Any) -> None:
    body = _qr("QR_STR_SCENE", {"scene_str": "x" * 64}, expire_seconds=2592000)
    assert post(live_server, CREATE, get_token(live_server), body)["expire_seconds"] == 2592000


def test_showqrcode_serves_a_real_png_of_the_ticket_url(live_server: Any) -> None:
    made = post(live_server, CREATE, get_token(live_server), _qr("QR_LIMIT_STR_SCENE", {"scene_str": "dealer:SH001"}))
    r = requests.get(wx(live_server, "cgi-bin/showqrcode"), params={"ticket": made["ticket"]}, timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    png = r.content
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width == height and 250 <= width <= 600
    # The image is exactly segno's QR code of the ticket's URL, and that URL leads back to the ticket.
    assert png == qr_png(made["url"])
    from scrm.sandbox.api_qrcode import find_ticket

    found = find_ticket(made["url"])
    assert found is not None and found[0] == DEMO_APP and found[1].ticket == made["ticket"]


def test_expired_or_unknown_tickets_have_no_image(live_server: Any) -> None:
    made = post(live_server, CREATE, get_token(live_server), _qr("QR_SCENE", {"scene_id": 9}, expire_seconds=60))
    assert requests.get(wx(live_server, "cgi-bin/showqrcode"), params={"ticket": made["ticket"]},
                        timeout=5).status_code == 200
    state.advance(61)
    assert requests.get(wx(live_server, "cgi-bin/showqrcode"), params={"ticket": made["ticket"]},
                        timeout=5).status_code == 404
    assert requests.get(wx(live_server, "cgi-bin/showqrcode"), params={"ticket": "nope"}, timeout=5).status_code == 404


def test_qr_quota(live_server: Any) -> None:
    state.set_quota(DEMO_APP, "qrcode_create", 1)
    tok = get_token(live_server)
    assert "ticket" in post(live_server, CREATE, tok, _qr("QR_SCENE", {"scene_id": 1}))
    assert post(live_server, CREATE, tok, _qr("QR_SCENE", {"scene_id": 2}))["errcode"] == 45009
