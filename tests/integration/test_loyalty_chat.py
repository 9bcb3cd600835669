"""签到 / 积分 / 会员中心 through the real webhook: pays once a day, the reply's figures, streak bonus, expiry."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from handlers import loyalty as loyalty_handlers
from scrm import db
from scrm.db import utcnow
from scrm.models import LoyaltySettings, Member, PointsEntry, Trigger
from scrm.services import ledger
from scrm.services.accounts import account_id
from scrm.services.followers import FollowerRef
from scrm.wechat.conversation import Conversation
from scrm.wechat.parse import parse
from scrm.wechat.replies import TextReply
from scrm.wechat.router import Context
from tests import wechat_xml as wx
from tests.factories import make_follower
from tests.integration.binding_support import Chat
from tests.integration.loyalty_support import make_rule, make_tiers

pytestmark = pytest.mark.integration


def member_of(follower_id: int) -> Member:
    """The follower's member row, freshly read."""
    db.session.remove()
    m = db.session.scalar(sa.select(Member).where(Member.follower_id == follower_id))
    assert m is not None
    return m


def entries(follower_id: int) -> list[PointsEntry]:
    """The follower's ledger entries."""
    m = member_of(follower_id)
    return list(db.session.scalars(sa.select(PointsEntry).where(PointsEntry.member_id == m.id)
                                   .order_by(PointsEntry.id)))


@pytest.fixture
def chat(client: Any, settings: Any) -> tuple[Chat, Any]:
    """A subscribed follower chatting with the demo account; check-in pays 5, tiers at 0 / 1,000 / 5,000."""
    make_rule(Trigger.CHECKIN, 5)
    make_tiers()
    f = make_follower()
    return Chat(client, settings, f.openid), f


def test_checkin_twice_in_a_day_pays_once(chat: tuple[Chat, Any], settings: Any) -> None:
    c, f = chat
    first = c.send("签到")
    assert "签到成功！+5 积分" in first
    assert "连续签到 1 天" in first and "积分余额：5" in first and "会员等级：银卡" in first
    member_link = f'<a href="{settings.app.public_url}/h5/demo/member">进入会员中心</a>'
    assert member_link in first
    again = c.click("CHECKIN")                                 # the menu button, later the same day
    assert "今天已经签过到了" in again and "积分余额：5" in again and "连续签到 1 天" in again
    assert "+5" not in again
    assert [e.points for e in entries(f.id)] == [5]
    assert member_of(f.id).balance == 5


def test_streak_bonus_is_announced_with_the_next_one(chat: tuple[Chat, Any]) -> None:
    c, f = chat
    make_rule(Trigger.STREAK_BONUS, 20, params={"days": 3})
    today = utcnow().astimezone(ledger.local_tz()).date()
    with db.transaction() as s:                                 # they checked in the two days before
        m = ledger.member_in(s, f.id)
        m.streak, m.best_streak, m.last_checkin_on = 2, 2, today - timedelta(days=1)
    reply = c.send("check in")
    assert "签到成功！+5 积分" in reply and "连续签到 3 天" in reply
    assert "连签奖励：连续签到 3 天，+20 积分！" in reply
    assert "再连续签到 3 天可得连签奖励" in reply and "积分余额：25" in reply
    assert sorted(e.points for e in entries(f.id)) == [5, 20]


def test_next_bonus_countdown_without_a_bonus_today(chat: tuple[Chat, Any]) -> None:
    c, _f = chat
    make_rule(Trigger.STREAK_BONUS, 20, params={"days": 7})
    reply = c.send("签到")
    assert "再连续签到 6 天可得连签奖励" in reply and "连签奖励：" not in reply


def test_my_points_shows_tier_progress_streak_and_expiring_points(chat: tuple[Chat, Any]) -> None:
    c, f = chat
    with db.transaction() as s:     # lots last one month; warn 60 days ahead
        s.add(LoyaltySettings(account_id=account_id("demo"), valid_months=1, expiry_warning_days=60))
    c.send("签到")
    make_rule(Trigger.BOOKING_COMPLETED, 300)
    now = utcnow()
    with db.transaction() as s:
        ledger.earn_in(s, member_of(f.id).id, Trigger.BOOKING_COMPLETED, key="t-booking", source="booking", now=now)
    expires = ledger.lot_expiry(now, 1).date()
    reply = c.send("我的积分")
    assert "我的积分" in reply and "积分余额：305" in reply and "会员等级：银卡" in reply
    assert "再得 695 积分即可升级为金卡" in reply
    assert "已连续签到 1 天" in reply and "近 12 个月获得积分：305" in reply
    assert f"305 积分将于 {expires.year}年{expires.month}月{expires.day}日 过期" in reply
    assert "发送“签到”" not in reply                           # already checked in today
    assert "/h5/demo/member" in reply


def test_points_before_any_loyalty_use_creates_nothing(chat: tuple[Chat, Any]) -> None:
    c, _f = chat
    reply = c.click("MY_POINTS")
    assert "积分余额：0" in reply and "再得 1000 积分即可升级为金卡" in reply and "发送“签到”" in reply
    assert "过期" not in reply
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == 0


def test_member_centre_is_a_card_with_the_link(chat: tuple[Chat, Any], client: Any, settings: Any) -> None:
    c, f = chat
    c.send("签到")
    status, body = wx.post(client, "demo", wx.click(f.openid, "MEMBER_CENTRE", create_time=int(utcnow().timestamp())),
                           settings.accounts["demo"])
    assert status == 200
    fields = wx.reply_fields(body)
    assert fields["MsgType"] == "news"
    assert f"{settings.app.public_url}/h5/demo/member" in body and "会员中心" in body and "积分 5 · 银卡" in body


def test_unsubscribed_follower_cannot_check_in(app_ctx: Any, settings: Any) -> None:
    """WeChat marks a follower subscribed again when it sends a message; a stale unsubscribed row is refused."""
    make_rule(Trigger.CHECKIN, 5)
    f = make_follower(subscribed=False)
    ctx = Context(account=settings.accounts["demo"], account_id=account_id("demo"),
                  follower=FollowerRef(id=f.id, openid=f.openid, subscribed=False, dealer_id=None),
                  conv=Conversation(), language="zh", public_url=settings.app.public_url)
    reply = loyalty_handlers.check_in(wx_inbound(f.openid), ctx)
    assert isinstance(reply, TextReply) and "请重新关注公众号" in reply.content
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PointsEntry)) == 0


def wx_inbound(openid: str) -> Any:
    """The parsed push of a typed 签到."""
    return parse("demo", wx.text_msg(openid, "签到"))


def test_english_account_speaks_english(chat: tuple[Chat, Any], app: Any,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    c, _f = chat
    settings = app.extensions["scrm.settings"]
    english = dataclasses.replace(settings.accounts["demo"], language="en")
    monkeypatch.setitem(app.extensions, "scrm.settings", dataclasses.replace(
        settings, accounts={**settings.accounts, "demo": english}))
    monkeypatch.delitem(app.extensions, "scrm.gateway", raising=False)   # its hot path keeps the account it met
    reply = c.send("check in")
    points = c.send("my points")
    assert "Checked in! +5 points" in reply and "Days in a row: 1" in reply and "Balance: 5 points" in reply
    assert "Open the member centre" in reply and "Tier: 银卡" in reply
    assert "995 more points to 金卡" in points and "Points earned in the last 12 months: 5" in points
