"""Pushes to a customer's bound followers appear on the 360 timeline with what they said and how they
stand; another dealer's pushes to the same follower do not."""

from __future__ import annotations

from typing import Any

from scrm import db
from scrm.models import Channel, Direction, MessageLog, Role
from scrm.outbox.enqueue import enqueue
from scrm.services.customer_profile import push_text
from tests.factories import make_dealer, make_follower
from tests.integration.admin_support import signed_in, text
from tests.integration.customer_support import bind, make_customer


def test_pushes_show_on_the_timeline_of_their_dealer_only(client: Any) -> None:
    with client.application.app_context():
        dealer, other = make_dealer(), make_dealer()
        c = make_customer(dealer, name="孙八")
        f = make_follower(dealer_id=dealer.id)
        bind(c, f)
        with db.transaction() as s:
            enqueue(s, account_id=c.account_id, dedupe_key="t1", channel=Channel.CUSTOM, follower_id=f.id,
                    openid=f.openid, dealer_id=dealer.id, purpose="journey",
                    payload={"msgtype": "text", "text": {"content": "您的爱车该保养了"}})
            enqueue(s, account_id=c.account_id, dedupe_key="t2", channel=Channel.TEMPLATE, follower_id=f.id,
                    openid=f.openid, dealer_id=None, purpose="campaign",
                    payload={"template_id": "T", "data": {"first": {"value": "品牌车主节"}}})
            enqueue(s, account_id=c.account_id, dedupe_key="t3", channel=Channel.CUSTOM, follower_id=f.id,
                    openid=f.openid, dealer_id=other.id, payload={"msgtype": "text", "text": {"content": "别家门店"}})
    signed_in(client, Role.DEALER_MANAGER, dealer=dealer)
    page = text(client.get(f"/admin/customers/{c.id}"))
    assert "您的爱车该保养了" in page and "品牌车主节" in page and "推送给粉丝的消息" in page and "待发送" in page
    assert "别家门店" not in page


def test_push_text_reads_every_payload_form() -> None:
    assert push_text({"custom": {"msgtype": "text", "text": {"content": "A"}}, "template": {}}) == "A"
    assert push_text({"msgtype": "news", "news": {"articles": [{"title": "X"}, {"title": "Y"}]}}) == "X / Y"
    assert push_text({"template_id": "T", "data": {"a": {"value": "1"}, "b": {"value": "2"}}}) == "1\n2"
    assert push_text({"msgtype": "image", "image": {"media_id": "m"}}) == ""


def test_wechats_reports_on_a_send_are_not_shown_as_the_followers_words(client: Any) -> None:
    with client.application.app_context():
        dealer = make_dealer()
        c = make_customer(dealer, name="周九")
        f = make_follower(dealer_id=dealer.id)
        bind(c, f)
        with db.transaction() as s:
            for msg_type, event, content in (("text", "", "请问保养多少钱"),
                                             ("event", "templatesendjobfinish", "success"),
                                             ("event", "masssendjobfinish", "send success"),
                                             ("event", "click", "MENU_BOOK")):
                s.add(MessageLog(account_id=c.account_id, follower_id=f.id, direction=Direction.IN,
                                 msg_type=msg_type, event=event, content=content))
    signed_in(client, Role.DEALER_MANAGER, dealer=dealer)
    page = text(client.get(f"/admin/customers/{c.id}"))
    assert "请问保养多少钱" in page and "MENU_BOOK" in page   # what the follower said and tapped
    assert "templatesendjobfinish" not in page and "masssendjobfinish" not in page and "send success" not in page
