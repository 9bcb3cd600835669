"""One contract, two stores: Redis (real, or the in-process stand-in) and memory run the same tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from scrm import runtime
from scrm.wechat.conversation import Busy, Conversation, MemoryConversationStore, RedisConversationStore

pytestmark = pytest.mark.integration
OPENID = "oStore00000000000000000000001"
Factory = Callable[[float], Any]


def redis_store(ttl: float) -> RedisConversationStore:
    rt = runtime.get()
    return RedisConversationStore(rt.redis, rt.settings.redis.prefix, "wxstoretest", ttl)


@pytest.fixture(params=["redis", "memory"])
def make_store(request: pytest.FixtureRequest, app: Any) -> Factory:
    return redis_store if request.param == "redis" else (lambda ttl: MemoryConversationStore(ttl))


def test_missing_is_empty(make_store: Factory) -> None:
    assert make_store(60).load(OPENID).is_empty()


def test_save_and_load(make_store: Factory) -> None:
    store = make_store(60)
    conv = Conversation()
    conv.enter("booking:pick_time", model="A6", slots=[1, 2])
    store.save(OPENID, conv)
    assert not conv.changed
    again = store.load(OPENID)
    assert (again.state, again.data) == ("booking:pick_time", {"model": "A6", "slots": [1, 2]})
    assert store.load("oSomeoneElse000000000000001").is_empty()


def test_saving_an_empty_conversation_deletes_it(make_store: Factory) -> None:
    store = make_store(60)
    store.save(OPENID, Conversation(state="booking:confirm"))
    conv = store.load(OPENID)
    conv.clear()
    store.save(OPENID, conv)
    assert store.load(OPENID).is_empty()


def test_expires_after_the_ttl_and_each_write_refreshes_it(make_store: Factory) -> None:
    store = make_store(0.4)
    store.save(OPENID, Conversation(state="booking:confirm"))
    time.sleep(0.25)
    store.save(OPENID, store.load(OPENID))       # refresh
    time.sleep(0.25)
    assert store.load(OPENID).state == "booking:confirm"
    time.sleep(0.3)
    assert store.load(OPENID).is_empty()


def test_the_lock_is_exclusive_and_released(make_store: Factory) -> None:
    store = make_store(60)
    with store.lock(OPENID), pytest.raises(Busy), store.lock(OPENID, wait=0.1):
        pass
    with store.lock(OPENID, wait=0.1):
        pass


def test_the_lock_serialises_concurrent_updates(make_store: Factory) -> None:
    store = make_store(60)
    store.save(OPENID, Conversation(state="count:n", data={"n": 0}))

    def bump() -> None:
        for _ in range(10):
            with store.lock(OPENID):
                conv = store.load(OPENID)
                conv.update(n=conv.data["n"] + 1)
                store.save(OPENID, conv)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert store.load(OPENID).data["n"] == 40


def test_redis_key_layout_and_ttl(app: Any) -> None:
    rt = runtime.get()
    store = redis_store(90)
    store.save(OPENID, Conversation(state="booking:confirm"))
    key = f"{rt.settings.redis.prefix}:conv:wxstoretest:{OPENID}"
    assert rt.redis.get(key) == '{"state":"booking:confirm","data":{}}'
    assert 85_000 < rt.redis.pttl(key) <= 90_000
