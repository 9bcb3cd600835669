"""The first handlers end to end: welcome, help, menu keys, keyword replies, fallback, events."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from scrm import db
from scrm.models import Channel, DeliveryStatus, MatchMode, QrScene, ReplyKind, SceneKind
from scrm.outbox.enqueue import enqueue
from scrm.services.accounts import account_id
from tests import wechat_xml as wx
from tests.factories import make_dealer, make_follower, make_keyword, make_staff
from tests.integration.webhook_support import deliveries, follower, logs

pytestmark = pytest.mark.integration
OPENID = "oBot0000000000000000000000001"


def say(client: Any, settings: Any, xml: str, slug: str = "demo") -> str:
    status, body = wx.post(client, slug, xml, settings.accounts[slug])
    assert status == 200
    return body


def content(client: Any, settings: Any, xml: str) -> str:
    body = say(client, settings, xml)
    fields = wx.reply_fields(body)
    assert fields["MsgType"] == "text", body
    return str(fields["Content"])


def test_plain_follow_gets_the_welcome(client: Any, settings: Any) -> None:
    text = content(client, settings, wx.subscribe(OPENID))
    assert text.startswith("欢迎关注测试品牌！") and "发送「帮助」" in text
    f = follower(OPENID)
    assert f is not None and f.subscribed and f.scene_kind == SceneKind.NONE
    assert f.interaction_kind == "follow"
    assert [(row.direction, row.event) for row in logs()] == [("in", "subscribe"), ("out", "")]
    assert logs("out")[0].handler == "subscribe.welcome"


def test_follow_through_a_dealer_qr_names_the_dealer_and_its_phone(client: Any, settings: Any) -> None:
    dealer = make_dealer(code="SH001", name="上海浦东4S店", phone="021-66668888")
    text = content(client, settings, wx.subscribe(OPENID, scene="dealer:SH001"))
    assert "上海浦东4S店" in text and "021-66668888" in text
    f = follower(OPENID)
    assert f is not None and f.dealer_id == dealer.id and f.scene_kind == SceneKind.DEALER
    assert f.scene == "dealer:SH001"


def test_follow_through_a_dealer_with_its_own_welcome_text(client: Any, settings: Any) -> None:
    dealer = make_dealer(code="BJ002", name="北京朝阳店",
                         welcome_text="{{ dealer.name }}欢迎您！到店请拨{{ dealer.phone }}")
    with db.transaction() as s:
        s.add(QrScene(account_id=account_id("demo"), scene="1001", kind=SceneKind.DEALER, dealer_id=dealer.id))
    text = content(client, settings, wx.subscribe(OPENID, scene="1001"))
    assert text == f"北京朝阳店欢迎您！到店请拨{dealer.phone}"


def test_staff_and_referral_scenes_are_acknowledged(client: Any, settings: Any) -> None:
    dealer = make_dealer(name="杭州店")
    staff = make_staff(dealer=dealer, display_name="王顾问")
    text = content(client, settings, wx.subscribe(OPENID, scene=f"staff:{staff.id}"))
    assert "王顾问" in text and "杭州店" in text
    f = follower(OPENID)
    assert f is not None and (f.staff_id, f.dealer_id, f.scene_kind) == (staff.id, dealer.id, SceneKind.STAFF)
    friend = make_follower(dealer_id=dealer.id)
    text = content(client, settings, wx.subscribe("oInvited000000000000000000001", scene=f"referral:{friend.id}"))
    assert "好友邀请" in text
    invited = follower("oInvited000000000000000000001")
    assert invited is not None and invited.referrer_id == friend.id and invited.dealer_id == dealer.id


def test_refollow_says_welcome_back(client: Any, settings: Any) -> None:
    say(client, settings, wx.subscribe(OPENID, create_time=1_700_000_000 + 0))
    assert say(client, settings, wx.unsubscribe(OPENID)) == "success"
    text = content(client, settings, wx.subscribe(OPENID))
    assert text.startswith("欢迎回到测试品牌")
    f = follower(OPENID)
    assert f is not None and f.subscribed and f.unsubscribed_at is not None
    assert f.first_subscribed_at is not None and f.first_subscribed_at < f.subscribed_at  # type: ignore[operator]


def test_scan_of_a_dealer_qr_by_a_follower_shows_the_dealer_card(client: Any, settings: Any) -> None:
    dealer = make_dealer(code="GZ9", name="广州天河店", city="广州", address="天河路1号", phone="020-1234")
    make_follower(openid=OPENID)
    text = content(client, settings, wx.scan(OPENID, "dealer:GZ9"))
    assert text.splitlines() == ["广州天河店", "地址：广州天河路1号", "电话：020-1234"]
    f = follower(OPENID)
    assert f is not None and f.dealer_id == dealer.id and f.interaction_kind == "scan"


def test_help_lists_the_commands(client: Any, settings: Any) -> None:
    for word in ("帮助", "help", "？", " HELP "):
        text = content(client, settings, wx.text_msg(OPENID, word))
        assert "发送「联系门店」" in text and "发送「取消」" in text


def test_menu_click_help_and_typed_command(client: Any, settings: Any) -> None:
    assert "再次查看本说明" in content(client, settings, wx.click(OPENID, "HELP"))
    dealer = make_dealer(name="苏州店", phone="0512-888")
    make_follower(openid="oHasDealer0000000000000000001", dealer_id=dealer.id)
    text = content(client, settings, wx.text_msg("oHasDealer0000000000000000001", "联系门店"))
    assert text.startswith("苏州店") and "0512-888" in text


def test_contact_dealer_without_a_dealer_lists_the_dealers(client: Any, settings: Any) -> None:
    make_dealer(name="A店", city="上海", phone="1")
    make_dealer(name="B店", city="北京", phone="2")
    make_dealer(name="关店", active=False)
    text = content(client, settings, wx.click(OPENID, "CONTACT_DEALER"))
    assert text.startswith("我们的门店：")
    assert "A店" in text and "B店" in text and "关店" not in text
    assert sorted(line.split(".")[0] for line in text.splitlines() if "店" in line and "." in line) == ["1", "2"]


def test_my_account_is_a_link_to_the_h5_page(client: Any, settings: Any) -> None:
    doc = wx.reply_fields(say(client, settings, wx.click(OPENID, "MY_ACCOUNT")))
    assert doc["MsgType"] == "news" and doc["ArticleCount"] == "1"
    item = doc["Articles"]["item"]
    assert item["Title"] == "我的会员账户"
    assert item["Url"] == f"{settings.app.public_url}/h5/demo/"


def test_unknown_click_falls_to_a_keyword_then_to_the_fallback(client: Any, settings: Any) -> None:
    make_keyword("PROMO_2025", "本月保养八折！", match=MatchMode.EXACT)
    assert content(client, settings, wx.click(OPENID, "PROMO_2025")) == "本月保养八折！"
    assert "点击下方菜单" in content(client, settings, wx.click(OPENID, "NO_SUCH_KEY"))


def test_keyword_exact_and_contains(client: Any, settings: Any) -> None:
    make_keyword("营业时间", "每天 9:00-18:00", match=MatchMode.EXACT)
    make_keyword("保养", "保养请点菜单预约", match=MatchMode.CONTAINS)
    assert content(client, settings, wx.text_msg(OPENID, " 营业时间 ")) == "每天 9:00-18:00"
    assert content(client, settings, wx.text_msg(OPENID, "我想做保养")) == "保养请点菜单预约"
    assert "没有理解" in content(client, settings, wx.text_msg(OPENID, "今天营业时间？"))


def test_keyword_reply_as_news_and_hits_are_counted(client: Any, settings: Any) -> None:
    kw = make_keyword("新车", "", kind=ReplyKind.NEWS, news_title="新车上市", news_description="全新车型",
                      news_url="https://example.com/new", news_pic_url="https://example.com/p.jpg")
    doc = wx.reply_fields(say(client, settings, wx.text_msg(OPENID, "新车")))
    assert doc["MsgType"] == "news" and doc["Articles"]["item"]["Title"] == "新车上市"
    say(client, settings, wx.text_msg(OPENID, "新车"))
    from scrm.models import KeywordReply

    with db.transaction() as s:
        assert s.get(KeywordReply, kw.id).hits == 2  # type: ignore[union-attr]


def test_the_followers_dealer_keyword_wins_over_the_account_wide_one(client: Any, settings: Any) -> None:
    dealer = make_dealer(name="深圳店", phone="0755-1")
    other = make_dealer(name="别家")
    make_keyword("电话", "品牌热线 400-800", match=MatchMode.EXACT, priority=100)
    make_keyword("电话", "{{ dealer.name }}：{{ dealer.phone }}", match=MatchMode.CONTAINS, dealer_id=dealer.id)
    make_keyword("电话", "别家电话", match=MatchMode.EXACT, dealer_id=other.id)
    make_follower(openid=OPENID, dealer_id=dealer.id)
    assert content(client, settings, wx.text_msg(OPENID, "电话")) == "深圳店：0755-1"
    assert content(client, settings, wx.text_msg("oNoDealer0000000000000000001", "电话")) == "品牌热线 400-800"


def test_a_dealer_reply_for_someone_without_a_dealer_uses_the_only_one_or_lists_them(client: Any,
                                                                                    settings: Any) -> None:
    make_keyword("地址", "{{ dealer.name }}地址：{{ dealer.address }} 电话：{{ dealer.phone }}",
                 match=MatchMode.CONTAINS)
    make_keyword("dealer", "dealer 专线 400-800", match=MatchMode.EXACT)  # the word, not the variable
    nobody = "oNoDealer0000000000000000002"
    pudong = make_dealer(name="浦东店", phone="021-1111", address="世纪大道1号")
    assert content(client, settings, wx.text_msg(nobody, "门店地址")) == "浦东店地址：世纪大道1号 电话：021-1111"
    make_dealer(name="闵行店", phone="021-2222", address="沪闵路2号")
    listed = content(client, settings, wx.text_msg(nobody, "门店地址"))
    assert listed.startswith("我们的门店：") and "浦东店  021-1111" in listed and "闵行店  021-2222" in listed
    make_follower(openid=OPENID, dealer_id=pudong.id)
    assert content(client, settings, wx.text_msg(OPENID, "地址")) == "浦东店地址：世纪大道1号 电话：021-1111"
    assert content(client, settings, wx.text_msg(nobody, "dealer")) == "dealer 专线 400-800"


def test_hostile_user_text_in_a_reply_cannot_break_the_xml(client: Any, settings: Any) -> None:
    make_keyword("]]>", "回复里有 ]]> 和 <xml>", match=MatchMode.CONTAINS)
    assert content(client, settings, wx.text_msg(OPENID, "a]]>b")) == "回复里有 ]]> 和 <xml>"


def test_fallback_for_other_message_types(client: Any, settings: Any) -> None:
    xml = wx.build(OPENID, "image", PicUrl="http://p/x.jpg", MediaId="m1", MsgId=wx.next_msg_id())
    assert content(client, settings, xml).startswith("已收到")


def test_location_event_is_stored_without_a_reply(client: Any, settings: Any) -> None:
    make_follower(openid=OPENID)
    assert say(client, settings, wx.location_event(OPENID, 31.230416, 121.473701)) == "success"
    f = follower(OPENID)
    assert f is not None and (f.latitude, f.longitude) == (Decimal("31.230416"), Decimal("121.473701"))
    assert f.location_at is not None
    assert say(client, settings, wx.location_event(OPENID, 91.0, 500.0, create_time=1)) == "success"
    assert follower(OPENID).latitude == Decimal("31.230416")  # type: ignore[union-attr]


def test_unsubscribe_marks_the_follower_and_cancels_pending_pushes(client: Any, settings: Any) -> None:
    f = make_follower(openid=OPENID)
    with db.transaction() as s:
        enqueue(s, account_id=account_id("demo"), dedupe_key="push:1", channel=Channel.CUSTOM,
                payload={"msgtype": "text", "text": {"content": "hi"}}, follower_id=f.id, openid=OPENID)
    assert say(client, settings, wx.unsubscribe(OPENID)) == "success"
    row = follower(OPENID)
    assert row is not None and not row.subscribed and row.unsubscribed_at is not None
    assert [d.status for d in deliveries()] == [DeliveryStatus.CANCELLED]


def test_template_job_report_updates_the_delivery(client: Any, settings: Any) -> None:
    f = make_follower(openid=OPENID)
    with db.transaction() as s:
        enqueue(s, account_id=account_id("demo"), dedupe_key="tpl:1", channel=Channel.TEMPLATE,
                payload={"template_id": "T", "data": {}}, follower_id=f.id, openid=OPENID)
        from scrm.models import Delivery

        s.execute(Delivery.__table__.update().values(status=DeliveryStatus.SENT, wechat_msgid="200163836",
                                                     channel_used="template"))
    xml = wx.event(OPENID, "TEMPLATESENDJOBFINISH", MsgID=200163836, Status="success")
    assert say(client, settings, xml) == "success"
    assert [d.status for d in deliveries()] == [DeliveryStatus.DELIVERED]
    assert follower(OPENID).interaction_kind == ""  # type: ignore[union-attr]  # a report opens no window


def test_mass_job_report_from_mphelper_creates_no_follower(client: Any, settings: Any) -> None:
    xml = wx.event("mphelper", "MASSSENDJOBFINISH", MsgID=1000001625, Status="send success", TotalCount=2,
                   FilterCount=2, SentCount=2, ErrorCount=0)
    assert say(client, settings, xml) == "success"
    assert follower("mphelper") is None
    assert [(row.event, row.follower_id) for row in logs()] == [("masssendjobfinish", None)]


def test_subscribe_msg_events_are_logged_and_answered_success(client: Any, settings: Any) -> None:
    xml = wx.event(OPENID, "subscribe_msg_popup_event", SubscribeMsgPopupEvent={"List": [
        {"TemplateId": "T1", "SubscribeStatusString": "accept", "PopupScene": "2"},
        {"TemplateId": "T2", "SubscribeStatusString": "reject", "PopupScene": "2"}]})
    assert say(client, settings, xml) == "success"
    assert [row.event for row in logs()] == ["subscribe_msg_popup_event"]


def test_every_message_refreshes_the_window(client: Any, settings: Any) -> None:
    from datetime import timedelta

    from scrm.db import utcnow

    old = utcnow() - timedelta(days=3)
    make_follower(openid=OPENID, last_interaction_at=old, interaction_kind="message", cs_sent_since_interaction=4)
    say(client, settings, wx.text_msg(OPENID, "hi"))
    f = follower(OPENID)
    assert f is not None and f.last_interaction_at > old  # type: ignore[operator]
    assert (f.interaction_kind, f.cs_sent_since_interaction) == ("message", 0)
    assert f.last_message_at is not None
    say(client, settings, wx.click(OPENID, "HELP"))
    assert follower(OPENID).interaction_kind == "click"  # type: ignore[union-attr]
