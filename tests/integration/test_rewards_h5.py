"""积分商城 on H5: the catalogue with balance and limits, the confirmation step, a double tap, my vouchers,
and the voucher's QR image, which only its member can load."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import segno  # noqa: F401  (the QR library the pages draw with)
import sqlalchemy as sa

from scrm import db
from scrm.models import Follower, Member, Redemption, Reward
from tests.integration.test_rewards import M, give, make_reward, new_member

pytestmark = pytest.mark.integration


def _signed_in(client: Any, m: M) -> None:
    openid = db.session.get_one(Follower, m.follower_id).openid
    with client.session_transaction() as sess:
        sess["h5"] = {"demo": {"openid": openid, "at": time.time()}}


def _hidden(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', html))


def test_the_catalogue_shows_balance_stock_and_limits(client: Any) -> None:
    m = new_member()
    give(m, 150)
    make_reward(name="洗车券", cost=100, stock=3, per_member_limit=2, sort_order=1)
    make_reward(name="保养套餐", cost=500, stock=0, sort_order=2)
    make_reward(name="下架礼品", active=False)
    _signed_in(client, m)
    body = client.get("/h5/demo/rewards").get_data(as_text=True)
    assert "可用积分" in body and "<strong>150</strong>" in body
    assert "洗车券" in body and "剩余 3" in body and "还可兑换 2 次" in body
    assert "保养套餐" in body and "已兑完" in body and "积分不足" in body
    assert "下架礼品" not in body


def test_redeem_through_the_confirmation_and_a_double_tap_gives_one_voucher(client: Any) -> None:
    m = new_member()
    give(m, 250)
    r = make_reward(name="洗车券", cost=100, stock=5)
    _signed_in(client, m)
    page = client.get(f"/h5/demo/rewards/{r.id}").get_data(as_text=True)
    assert "确认兑换" in page and "过期未使用，积分不予退还" in page
    fields = _hidden(page)
    first = client.post(f"/h5/demo/rewards/{r.id}/redeem", data=fields)
    second = client.post(f"/h5/demo/rewards/{r.id}/redeem", data=fields)
    assert first.status_code == second.status_code == 303 and first.location == second.location
    voucher = client.get(first.location).get_data(as_text=True)
    red = db.session.scalars(sa.select(Redemption)).one()
    assert "兑换成功" in voucher and red.code in voucher and f"/vouchers/{red.id}/qr.png" in voucher
    db.session.rollback()
    assert db.session.get_one(Member, m.id, populate_existing=True).balance == 150
    assert db.session.get_one(Reward, r.id, populate_existing=True).stock == 4
    mine = client.get("/h5/demo/vouchers").get_data(as_text=True)
    assert red.code in mine and "未使用" in mine


def test_a_refused_redemption_says_why_and_changes_nothing(client: Any) -> None:
    m = new_member()
    give(m, 50)
    r = make_reward(cost=100, stock=5)
    cheap = make_reward(cost=10, stock=5)
    _signed_in(client, m)
    page = client.get(f"/h5/demo/rewards/{r.id}").get_data(as_text=True)
    assert "您的积分暂不足以兑换该礼品" in page and 'id="redeem-form"' not in page
    token = _hidden(client.get(f"/h5/demo/rewards/{cheap.id}").get_data(as_text=True))["csrf_token"]
    resp = client.post(f"/h5/demo/rewards/{r.id}/redeem", data={"request_key": "forged", "csrf_token": token})
    assert resp.status_code == 409 and "积分不足" in resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Redemption)) == 0


def test_the_qr_image_is_a_png_for_its_member_only(client: Any) -> None:
    from scrm.services import rewards

    m, other = new_member(), new_member()
    give(m, 100)
    red = rewards.redeem(m.follower_id, make_reward().id, "qr")
    _signed_in(client, m)
    img = client.get(f"/h5/demo/vouchers/{red.id}/qr.png")
    assert img.status_code == 200 and img.mimetype == "image/png" and img.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert "no-store" in img.headers["Cache-Control"]
    _signed_in(client, other)
    assert client.get(f"/h5/demo/vouchers/{red.id}/qr.png").status_code == 404
    assert client.get(f"/h5/demo/vouchers/{red.id}").status_code == 404
    assert red.code not in client.get("/h5/demo/vouchers").get_data(as_text=True)


def test_signed_out_visitors_are_sent_to_sign_in(client: Any) -> None:
    resp = client.get("/h5/demo/vouchers")
    assert resp.status_code in (302, 303) and "/h5/demo/vouchers" not in (resp.location or "").split("?")[0]
