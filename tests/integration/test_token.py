"""The shared access token: stable_token, one refresh at a time, forced refresh rules, fatal config."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from typing import Any

import pytest
from prometheus_client import REGISTRY

from scrm import runtime
from scrm.sandbox import state as sandbox
from scrm.wechat.client import WeChatAPI
from scrm.wechat.errors import AccountMisconfigured, InvalidCredential
from scrm.wechat.token import TokenStore
from tests.integration.outbox_helpers import seed_token

pytestmark = pytest.mark.integration
TEXT = {"msgtype": "text", "text": {"content": "token test"}}


@pytest.fixture
def account(live_server: Any, app_ctx: Any, settings: Any) -> Any:
    return settings.accounts["demo"]


def stable_calls(errcode: str = "0") -> float:
    return REGISTRY.get_sample_value("scrm_wechat_api_calls_total",
                                     {"endpoint": "stable_token", "errcode": errcode}) or 0.0


def stored(account: Any) -> dict[str, Any]:
    raw = runtime.get().redis.get(runtime.get().key("token", account.app_id))
    assert raw, "no shared token in Redis"
    return dict(json.loads(raw))


def test_token_is_fetched_once_and_shared_in_redis(account: Any) -> None:
    before = stable_calls()
    token = TokenStore(account).get()
    data = stored(account)
    assert data["token"] == token
    assert 7000 < data["expires_at"] - time.time() <= 7200
    ttl = runtime.get().redis.ttl(runtime.get().key("token", account.app_id))
    assert 7000 < ttl <= 7200
    # Another "process" (a separate store) reads the shared value instead of fetching.
    assert TokenStore(account).get() == token
    assert stable_calls() == before + 1


def test_concurrent_first_use_fetches_once(account: Any) -> None:
    before = stable_calls()
    tokens: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def fetch() -> None:
        try:
            start.wait()
            tokens.append(TokenStore(account).get())
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors
    assert len(tokens) == 8 and len(set(tokens)) == 1
    assert stable_calls() == before + 1


def test_refreshed_ahead_of_expiry(account: Any) -> None:
    seed_token(account, "about-to-expire", expires_in=200)      # inside the 5-minute margin
    token = TokenStore(account).get()
    assert token != "about-to-expire"
    assert stored(account)["token"] == token


def test_refresh_if_expiring(account: Any) -> None:
    store = TokenStore(account)
    seed_token(account, "still-good", expires_in=3600)
    assert store.refresh_if_expiring(600) is False
    assert store.get() == "still-good"
    seed_token(account, "expiring", expires_in=500)
    assert store.refresh_if_expiring(600) is True
    new = store.peek()
    assert new is not None and new.value not in ("expiring", "still-good")


def test_rejected_token_gets_one_forced_refresh_and_the_call_succeeds(account: Any) -> None:
    sandbox.add_follower(account.app_id, "o_tok")
    seed_token(account, "rejected-by-wechat")
    before = stable_calls()
    WeChatAPI(account).send_custom("o_tok", TEXT)
    assert stored(account)["token"] != "rejected-by-wechat"
    assert stable_calls() == before + 1
    assert runtime.get().redis.exists(runtime.get().key("token", account.app_id, "forced"))
    assert len(sandbox.messages_for(account.app_id, "o_tok")) == 1


def test_no_second_forced_refresh_within_30_seconds(account: Any) -> None:
    sandbox.add_follower(account.app_id, "o_tok2")
    api = WeChatAPI(account)
    seed_token(account, "bad-1")
    api.send_custom("o_tok2", TEXT)                     # forced refresh #1
    calls_after_first = stable_calls()
    seed_token(account, "bad-2")                        # rejected again right away
    with pytest.raises(InvalidCredential):
        api.send_custom("o_tok2", TEXT)
    assert stable_calls() == calls_after_first          # no second forced refresh within 30 s
    assert stored(account)["token"] == "bad-2"
    assert len(sandbox.messages_for(account.app_id, "o_tok2")) == 1


def test_wrong_secret_is_a_clear_config_error(account: Any) -> None:
    wrong = dataclasses.replace(account, app_secret="not-the-secret")
    with pytest.raises(AccountMisconfigured) as exc:
        TokenStore(wrong).get()
    assert exc.value.errcode == 40125
    assert "account demo" in str(exc.value) and "AppSecret" in str(exc.value)
    assert "not-the-secret" not in str(exc.value)
