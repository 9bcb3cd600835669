"""Conversation objects, the memory store, cancel from any state, and expiry (no I/O)."""

from __future__ import annotations

import time

import pytest

from handlers import common
from scrm.config import AccountSettings
from scrm.wechat.conversation import Busy, Conversation, MemoryConversationStore, State, StateGroup
from scrm.wechat.dispatcher import Dispatcher
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import TextReply
from scrm.wechat.router import Context, Router, any_text, in_state

ACCOUNT = AccountSettings(slug="demo", name="测试品牌", app_id="wx1", app_secret="s", token="tok")


class Booking(StateGroup):
    pick_model = State()
    pick_time = State()
    confirm = State()


booking = Router("booking", states=Booking)


@booking.on(in_state(Booking.pick_model), any_text())
def got_model(m: Inbound, c: Context) -> TextReply:
    c.conv.enter(Booking.pick_time, model=m.content)
    return TextReply("when?")


@booking.on(in_state(Booking.pick_time), any_text())
def got_time(m: Inbound, c: Context) -> TextReply:
    c.conv.enter(Booking.confirm, time=m.content)
    return TextReply("confirm?")


def say(content: str) -> Inbound:
    return Inbound(account_slug="demo", openid="oUser", to_user="gh", create_time=1, msg_type="text",
                   content=content, msg_id="1")


def run(store: MemoryConversationStore, d: Dispatcher, content: str) -> TextReply | None:
    with store.lock("oUser"):
        conv = store.load("oUser")
        c = Context(account=ACCOUNT, account_id=1, follower=None, conv=conv, language="zh")
        reply = d.dispatch(say(content), c).reply
        if conv.changed:
            store.save("oUser", conv)
    assert reply is None or isinstance(reply, TextReply)
    return reply


def test_conversation_json_round_trip_and_emptiness() -> None:
    conv = Conversation()
    assert conv.is_empty() and not conv.changed
    conv.enter(Booking.pick_time, model="A6")
    assert conv.changed and conv.state == "booking:pick_time" and conv.in_group(Booking)
    again = Conversation.from_json(conv.to_json())
    assert (again.state, again.data) == ("booking:pick_time", {"model": "A6"})
    conv.clear()
    assert conv.is_empty()


@pytest.mark.parametrize("raw", [None, "", "not json", "[1,2]", '{"state": 5, "data": []}'])
def test_unreadable_stored_values_are_empty_conversations(raw: str | None) -> None:
    assert Conversation.from_json(raw).is_empty()


def test_a_conversation_moves_through_its_states() -> None:
    store = MemoryConversationStore(ttl_seconds=60)
    store.save("oUser", Conversation(state=Booking.pick_model.name))
    d = Dispatcher([common.router, booking])
    assert run(store, d, "A6") == TextReply("when?")
    assert run(store, d, "明天上午") == TextReply("confirm?")
    conv = store.load("oUser")
    assert conv.state == "booking:confirm" and conv.data == {"model": "A6", "time": "明天上午"}


@pytest.mark.parametrize("state", [s.name for s in Booking.states()])
@pytest.mark.parametrize("word", ["取消", "cancel", "退出", " CANCEL "])
def test_cancel_works_in_every_state(state: str, word: str) -> None:
    store = MemoryConversationStore(ttl_seconds=60)
    store.save("oUser", Conversation(state=state, data={"model": "A6"}))
    reply = run(store, Dispatcher([common.router, booking]), word)
    assert reply is not None and "已取消" in reply.content
    assert store.load("oUser").is_empty()


def test_cancel_without_a_conversation_says_so() -> None:
    store = MemoryConversationStore(ttl_seconds=60)
    reply = run(store, Dispatcher([common.router, booking]), "取消")
    assert reply is not None and "没有进行中的操作" in reply.content


def test_memory_store_expires_after_its_ttl() -> None:
    store = MemoryConversationStore(ttl_seconds=0.05)
    store.save("oUser", Conversation(state="booking:confirm"))
    assert store.load("oUser").state == "booking:confirm"
    time.sleep(0.08)
    assert store.load("oUser").is_empty()


def test_memory_lock_is_exclusive() -> None:
    store = MemoryConversationStore(ttl_seconds=60)
    with store.lock("oUser"), pytest.raises(Busy), store.lock("oUser", wait=0.05):
        pass
    with store.lock("oUser"):
        pass  # released again
