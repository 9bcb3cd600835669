"""Referrals through the real webhook (a follow by the QR's scene in the sandbox), the H5 page and the admin list."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import BindMethod, QrScene, Referral, Role, SceneKind, Trigger
from scrm.sandbox.api_qrcode import find_ticket
from scrm.services import binding, referrals, referrals_points, referrals_qr
from scrm.services.accounts import account_id
from tests import wechat_xml as wx
from tests.factories import make_dealer, make_follower
from tests.integration.admin_support import signed_in, text
from tests.integration.binding_support import Chat
from tests.integration.customer_support import make_customer
from tests.integration.loyalty_support import make_rule

pytestmark = pytest.mark.integration


def _signed_in_h5(client: Any, openid: str, slug: str = "demo") -> None:
    with client.session_transaction() as sess:
        sess["h5"] = {slug: {"openid": openid, "at": time.time()}}


def _referrals() -> list[Referral]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(Referral).order_by(Referral.id)))


@pytest.fixture
def inviter(app_ctx: Any) -> dict[str, Any]:
    """A member bound to 王小明's record at a dealer."""
    dealer = make_dealer(name="杭州滨江店")
    f = make_follower(dealer_id=dealer.id)
    c = make_customer(dealer, name="王小明", mobile="13812345678")
    binding.link(follower_id=f.id, customer_id=c.id, method=BindMethod.H5, consent_text="同意", language="zh")
    return {"dealer": dealer, "follower": f, "customer": c}


def test_a_follow_by_the_personal_codes_scene_greets_the_friend_naming_the_inviter(
        live_server: Any, inviter: dict[str, Any], client: Any, settings: Any) -> None:
    f = inviter["follower"]
    code = referrals_qr.personal_code(account_id("demo"), f.id)
    found = find_ticket(code.url)                                 # the fake WeChat made a temporary code
    assert found is not None and found[1].scene == f"referral:{f.id}" and not found[1].permanent
    friend = Chat(client, settings, "oFriendOfWang00000000000000001")
    reply = friend.follow(scene=found[1].scene)
    assert "欢迎关注" in reply and "邀请您的好友：王**" in reply and "/h5/demo/referral" in reply
    assert "王小明" not in reply
    [row] = _referrals()
    assert row.referee_id != row.referrer_id
    friend.post(wx.unsubscribe(friend.openid, create_time=int(time.time()) + 3600))
    again = friend.follow(scene=found[1].scene)                   # a refollow is welcomed back, not credited
    assert "王**" not in again and len(_referrals()) == 1
    itself = Chat(client, settings, f.openid).scan(found[1].scene)   # the member scanning their own code
    assert "王**" not in itself and len(_referrals()) == 1


def test_the_personal_code_is_kept_and_renewed_when_it_expires(live_server: Any, inviter: dict[str, Any]) -> None:
    f = inviter["follower"]
    first = referrals_qr.personal_code(account_id("demo"), f.id)
    assert referrals_qr.personal_code(account_id("demo"), f.id).url == first.url
    assert first.expires_at - db.utcnow() > timedelta(days=29)
    with db.transaction() as s:
        row = s.scalar(sa.select(QrScene).where(QrScene.scene == f"referral:{f.id}"))
        assert row is not None and row.kind == SceneKind.REFERRAL and not row.permanent
        assert row.dealer_id == inviter["dealer"].id
        row.expires_at = db.utcnow() + timedelta(hours=2)          # about to expire: renewed before shown
    renewed = referrals_qr.personal_code(account_id("demo"), f.id)
    assert renewed.url != first.url and renewed.expires_at - db.utcnow() > timedelta(days=29)
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(QrScene)
                        .where(QrScene.scene == f"referral:{f.id}")) == 1


def test_the_chat_words_and_menu_key_link_to_the_page(inviter: dict[str, Any], client: Any, settings: Any) -> None:
    chat = Chat(client, settings, inviter["follower"].openid)
    for reply in (chat.send("邀请好友"), chat.send("推荐"), chat.click("REFERRAL")):
        assert "专属二维码" in reply and "/h5/demo/referral" in reply


def test_the_h5_page_shows_the_code_and_the_friends_progress(live_server: Any, inviter: dict[str, Any],
                                                           client: Any) -> None:
    make_rule(Trigger.REFERRAL_BIND, 50)
    f = inviter["follower"]
    bound = make_follower(subscribed=False, first_subscribed_at=None, referrer_id=f.id)
    plain = make_follower(subscribed=False, first_subscribed_at=None, referrer_id=f.id)
    for other in (bound, plain):
        assert referrals.record_follow(f.id, other.id, first_follow=True).referral_id is not None
    c = make_customer(inviter["dealer"], name="李雷", mobile="13900001234")
    binding.link(follower_id=bound.id, customer_id=c.id, method=BindMethod.H5, consent_text="同意", language="zh")
    referrals_points.scan_bindings()
    _signed_in_h5(client, f.openid)
    page = text(client.get("/h5/demo/referral"))
    assert "我的邀请二维码" in page and "/h5/demo/referral/qr.png" in page
    assert "李*" in page and "李雷" not in page and "13900001234" not in page
    assert page.count("data-friend") == 2 and "已获积分：50" in page
    img = client.get("/h5/demo/referral/qr.png")
    assert img.status_code == 200 and img.mimetype == "image/png" and img.data[:4] == b"\x89PNG"
    _signed_in_h5(client, bound.openid)                             # not following: asked to follow first
    assert "请先在微信中关注本公众号" in text(client.get("/h5/demo/referral"))


def _referral_at(dealer: Any, name: str) -> None:
    a = make_follower(dealer_id=dealer.id)
    c = make_customer(dealer, name=name, mobile="13712345678")
    binding.link(follower_id=a.id, customer_id=c.id, method=BindMethod.H5, consent_text="同意", language="zh")
    friend = make_follower(subscribed=False, first_subscribed_at=None, referrer_id=a.id)
    assert referrals.record_follow(a.id, friend.id, first_follow=True).referral_id is not None


def test_the_admin_list_is_scoped_to_the_home_dealer(app_ctx: Any, client: Any) -> None:
    mine, other = make_dealer(name="本店"), make_dealer(name="别店")
    _referral_at(mine, "张本店")
    _referral_at(other, "赵别店")
    signed_in(client, Role.DEALER_STAFF, dealer=mine)
    page = text(client.get("/admin/referrals/"))
    assert "张本店" in page and "赵别店" not in page
    assert "137****5678" in page and "13712345678" not in page     # staff see masked phones
    assert "本月推荐排行" in page and "推荐有礼" in page
    assert page.count('data-referral="') == 1
    bad = text(client.get("/admin/referrals/?since=2026-13-01"))
    assert 'id="bad-dates"' in bad and "请按“年-月-日”填写日期" in bad and bad.count('data-referral="') == 1


def test_a_brand_admin_sees_every_dealer_with_whole_phones(app_ctx: Any, client: Any) -> None:
    mine, other = make_dealer(name="本店"), make_dealer(name="别店")
    _referral_at(mine, "张本店")
    _referral_at(other, "赵别店")
    signed_in(client, Role.BRAND_ADMIN)
    page = text(client.get("/admin/referrals/"))
    assert "张本店" in page and "赵别店" in page and "13712345678" in page
    only = text(client.get(f"/admin/referrals/?dealer={other.id}"))
    assert "赵别店" in only and "张本店" not in only
    bound = text(client.get("/admin/referrals/?stage=bound"))
    assert 'data-referral="' not in bound
