"""退订 / 恢复推送 through the real webhook: the flag, waiting marketing rows cancelled, notices untouched, timeline."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Channel, Delivery, DeliveryStatus, Follower, TimelineEntry
from scrm.services import opt_out
from scrm.services.accounts import account_id
from tests.factories import make_dealer, make_follower
from tests.integration.admin_support import csrf_from
from tests.integration.binding_support import Chat
from tests.integration.customer_support import bind, make_customer

pytestmark = pytest.mark.integration
_keys = itertools.count(1)


def _row(follower: Any, purpose: str, status: DeliveryStatus = DeliveryStatus.PENDING) -> int:
    with db.transaction() as s:
        d = Delivery(account_id=account_id("demo"), dealer_id=follower.dealer_id, follower_id=follower.id,
                     openid=follower.openid, dedupe_key=f"opt:{next(_keys)}", channel=Channel.CUSTOM,
                     purpose=purpose, status=status, payload={"msgtype": "text", "text": {"content": "hi"}})
        s.add(d)
        s.flush()
        return d.id


def _status(delivery_id: int) -> tuple[DeliveryStatus, str]:
    with db.transaction() as s:
        d = s.get(Delivery, delivery_id)
        assert d is not None
        return d.status, d.result


def _opted_out(follower_id: int) -> bool:
    with db.transaction() as s:
        return bool(s.scalar(sa.select(Follower.opt_out_marketing).where(Follower.id == follower_id)))


def _titles(customer_id: int) -> list[str]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(TimelineEntry.title).where(TimelineEntry.customer_id == customer_id,
                                                                   TimelineEntry.kind == "preference")
                              .order_by(TimelineEntry.id)))


@pytest.fixture
def world(client: Any, settings: Any) -> dict[str, Any]:
    dealer = make_dealer()
    f = make_follower(dealer_id=dealer.id)
    c = make_customer(dealer, name="赵六")
    bind(c, f)
    return {"follower": f, "customer": c, "chat": Chat(client, settings, f.openid)}


def test_chat_opt_out_cancels_marketing_keeps_notices_and_replies(world: dict[str, Any]) -> None:
    f, chat = world["follower"], world["chat"]
    campaign = _row(f, "campaign")
    held = _row(f, "journey", DeliveryStatus.HELD)
    notice = _row(f, "transactional")
    sent = _row(f, "campaign", DeliveryStatus.SENT)
    reply = chat.send("退订")
    assert "已退订" in reply and "预约确认、积分和活动通知仍会照常发送" in reply and "恢复推送" in reply
    assert "/h5/demo/preferences" in reply
    assert _opted_out(f.id)
    assert _status(campaign) == (DeliveryStatus.CANCELLED, "opt_out")
    assert _status(held) == (DeliveryStatus.CANCELLED, "opt_out")
    assert _status(notice) == (DeliveryStatus.PENDING, "")
    assert _status(sent)[0] == DeliveryStatus.SENT
    assert _titles(world["customer"].id) == ["Opted out of marketing messages"]
    again = chat.send("TD")                                     # idempotent, and any of the words works
    assert "之前已经退订" in again and _opted_out(f.id)
    assert _titles(world["customer"].id) == ["Opted out of marketing messages"]


def test_resume_opts_back_in_and_is_idempotent(world: dict[str, Any]) -> None:
    f, chat = world["follower"], world["chat"]
    chat.send("unsubscribe")
    assert _opted_out(f.id)
    back = chat.send("恢复推送")
    assert "欢迎回来" in back and "退订" in back
    assert not _opted_out(f.id)
    assert "已在接收" in chat.send("resume")
    assert _titles(world["customer"].id) == ["Opted out of marketing messages", "Opted back in to marketing messages"]


def test_words_inside_a_conversation_are_left_to_it(client: Any, settings: Any) -> None:
    f = make_follower(dealer_id=make_dealer().id)             # not bound yet: 绑定 starts a conversation
    chat = Chat(client, settings, f.openid)
    assert "手机号" in chat.send("绑定")                          # the binding conversation is active
    chat.send("退订")
    assert not _opted_out(f.id)
    chat.send("取消")
    chat.send("stop")
    assert _opted_out(f.id)


def test_service_counts_cancelled_rows_and_a_second_call_changes_nothing(world: dict[str, Any]) -> None:
    f = world["follower"]
    _row(f, "campaign")
    _row(f, "journey")
    first = opt_out.opt_out(f.id, source="staff")
    assert (first.changed, first.cancelled) == (True, 2)
    second = opt_out.opt_out(f.id, source="staff")
    assert (second.changed, second.cancelled) == (False, 0)
    assert opt_out.is_opted_out(f.id)


def _signed_in(client: Any, openid: str, slug: str = "demo") -> None:
    with client.session_transaction() as sess:
        sess["h5"] = {slug: {"openid": openid, "at": time.time()}}


def test_h5_preferences_switch_uses_the_same_service(client: Any, world: dict[str, Any]) -> None:
    f = world["follower"]
    campaign = _row(f, "campaign")
    _signed_in(client, f.openid)
    page = client.get("/h5/demo/preferences").data.decode()
    assert "消息设置" in page and 'data-marketing="on"' in page and 'aria-checked="true"' in page
    token = csrf_from(page)
    assert client.post("/h5/demo/preferences", data={"marketing": "off"}).status_code == 400   # no CSRF token
    assert not _opted_out(f.id)
    off = client.post("/h5/demo/preferences", data={"csrf_token": token, "marketing": "off"}, follow_redirects=True)
    text = off.data.decode()
    assert 'data-marketing="off"' in text and "已关闭" in text and "恢复推送" in text
    assert _opted_out(f.id) and _status(campaign) == (DeliveryStatus.CANCELLED, "opt_out")
    on = client.post("/h5/demo/preferences", data={"csrf_token": token, "marketing": "on"}, follow_redirects=True)
    assert 'data-marketing="on"' in on.data.decode() and not _opted_out(f.id)
    home = client.get("/h5/demo/").data.decode()
    assert "/h5/demo/preferences" in home and "消息设置" in home


def test_h5_preferences_needs_sign_in(client: Any) -> None:
    assert client.get("/h5/demo/preferences").status_code in (302, 303)
