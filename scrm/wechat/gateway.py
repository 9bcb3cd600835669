"""The gateway behind the webhook: verify, decrypt, parse, dedupe, dispatch under the budget, reply.

Status codes (the webhook's contract):
* 404 unknown slug; 413 body over 256 KiB (Content-Length or bytes read); 403 bad or stale signature
  or msg_signature: nothing is recorded for any of these.
* 400 for bodies WeChat itself never sends for this account: not XML, DOCTYPE/entities, root not
  <xml>, missing MsgType/FromUserName/CreateTime, non-numeric ids, bad base64/padding, encrypted for
  another app id. They cannot succeed on a retry, so an honest 400 costs nothing, and nothing is
  recorded (no follower, no log, no dedupe key).
* 200 `success` for well-formed pushes we have nothing to say to (unknown types and events, job
  reports, a busy follower, a handler that missed the budget) and 200 with reply XML otherwise.
* 503 when our own infrastructure fails (database or Redis down): the dedupe claim is released so
  WeChat's retry can run the push once we are back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from scrm import metrics, runtime
from scrm.config import AccountSettings, Settings
from scrm.services import accounts, messages
from scrm.wechat import fastpath, parse, signature
from scrm.wechat.budget import Late, runner
from scrm.wechat.conversation import RedisConversationStore
from scrm.wechat.crypto import CryptoError, MessageCrypto, SignatureMismatch
from scrm.wechat.dedupe import Deduper
from scrm.wechat.dispatcher import Dispatcher, Outcome, process
from scrm.wechat.fastpath import FastPath
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import SUCCESS, answer_xml, to_custom_payload

logger = logging.getLogger(__name__)
MAX_BODY = 256 * 1024
XML_TYPE = "application/xml; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
_INLINE = metrics.WEBHOOK_DISPATCHES.labels(thread="request")
_BUDGETED = metrics.WEBHOOK_DISPATCHES.labels(thread="budget")


@dataclass(frozen=True)
class Result:
    """What the webhook sends back, and the outcome label for the metrics."""

    status: int
    body: str
    outcome: str
    content_type: str = TEXT_TYPE


def _bad(reason: str, status: int = 400) -> Result:
    logger.warning("webhook rejected a push: %s", reason)
    return Result(status, "bad request" if status == 400 else "forbidden",
                  "bad_request" if status == 400 else "forbidden")


@dataclass
class Gateway:
    """Per-app state of the gateway: dispatcher, stores and ciphers (built once, reused)."""

    app: Flask
    settings: Settings
    dispatcher: Dispatcher
    deduper: Deduper
    _stores: dict[str, RedisConversationStore] = field(default_factory=dict)
    _cryptos: dict[str, MessageCrypto] = field(default_factory=dict)
    _fast: dict[str, FastPath] = field(default_factory=dict)

    def store(self, account: AccountSettings) -> RedisConversationStore:
        """The conversation store of an account."""
        st = self._stores.get(account.slug)
        if st is None:
            rt = runtime.get()
            st = RedisConversationStore(rt.redis, rt.settings.redis.prefix, account.app_id,
                                        self.settings.conversation.ttl_minutes * 60)
            self._stores[account.slug] = st
        return st

    def crypto(self, account: AccountSettings) -> MessageCrypto:
        """The cipher of a safe-mode account."""
        c = self._cryptos.get(account.slug)
        if c is None:
            c = self._cryptos[account.slug] = MessageCrypto(account.token, account.encoding_aes_key, account.app_id,
                                                            account.encoding_aes_key_previous)
        return c

    def handshake(self, account: AccountSettings, args: Any) -> Result:
        """URL verification: echo `echostr` (plain even in safe mode) when the signature checks out."""
        if not signature.check_request(account.token, args.get("signature", ""), args.get("timestamp", ""),
                                       args.get("nonce", "")):
            return _bad("handshake signature", 403)
        echostr = args.get("echostr", "")
        if not echostr or len(echostr) > 256:
            return _bad("handshake without a usable echostr")
        return Result(200, echostr, "ok")

    def decode(self, account: AccountSettings, args: Any, body: bytes) -> Inbound | Result:
        """Verify and decrypt (when encrypted) and parse a push; a Result when it must be refused."""
        ts, nonce = args.get("timestamp", ""), args.get("nonce", "")
        encrypt_type = args.get("encrypt_type", "")
        try:
            if encrypt_type == "aes":
                if not account.safe_mode:
                    return _bad("encrypted push for a plaintext account")
                encrypted = parse.envelope_encrypt(body)
                xml = self.crypto(account).verify_and_decrypt(args.get("msg_signature", ""), ts, nonce, encrypted)
                return parse.parse(account.slug, xml)
            if encrypt_type not in ("", "raw"):
                return _bad(f"unknown encrypt_type {encrypt_type[:16]!r}")
            return parse.parse(account.slug, body)
        except SignatureMismatch:
            return _bad("msg_signature", 403)
        except (parse.BadMessage, CryptoError) as exc:
            return _bad(str(exc)[:200])

    def reply_body(self, account: AccountSettings, args: Any, xml: str) -> Result:
        """The response for a plaintext reply body: encrypted when the push was."""
        if xml == SUCCESS:
            return Result(200, SUCCESS, "ok")
        if args.get("encrypt_type", "") == "aes":
            xml = self.crypto(account).encrypt_reply(xml, args.get("nonce", ""), str(int(time.time())))
        return Result(200, xml, "ok", XML_TYPE)

    def fast(self, account: AccountSettings) -> FastPath:
        """The hot path of an account."""
        fp = self._fast.get(account.slug)
        if fp is None:
            fp = self._fast[account.slug] = FastPath(account, self.settings, self.deduper, self.store(account),
                                                     self.dispatcher)
        return fp

    def handle_post(self, account: AccountSettings, args: Any, body: bytes) -> Result:
        """A verified-size POST: signature, decode, dedupe, dispatch, reply."""
        if not signature.check_request(account.token, args.get("signature", ""), args.get("timestamp", ""),
                                       args.get("nonce", "")):
            return _bad("signature or timestamp", 403)
        decoded = self.decode(account, args, body)
        if isinstance(decoded, Result):
            return decoded
        msg = decoded
        if fastpath.eligible(msg):
            return self._handle_fast(account, args, msg)
        if not self.deduper.claim(account.app_id, msg.dedupe_id):
            dup = self._retry(account, args, msg)
            if dup is not None:
                return dup
        return self._handle_slow(account, args, msg)

    def _retry(self, account: AccountSettings, args: Any, msg: Inbound) -> Result | None:
        """A retry gets the first arrival's reply; None when the first failed and this one claimed it."""
        stored = self.deduper.reply_for_retry(account.app_id, msg.dedupe_id)
        if stored is not None or not self.deduper.claim(account.app_id, msg.dedupe_id):
            result = self.reply_body(account, args, stored or SUCCESS)
            return Result(result.status, result.body, "dup", result.content_type)
        return None

    def _handle_slow(self, account: AccountSettings, args: Any, msg: Inbound) -> Result:
        """Dispatch a claimed push the ordinary way (synchronous bookkeeping, blocking lock)."""
        try:
            xml = self._dispatch(account, msg)
        except Exception:
            self.deduper.release(account.app_id, msg.dedupe_id)
            raise
        self.deduper.remember(account.app_id, msg.dedupe_id, xml)
        return self.reply_body(account, args, xml)

    def _handle_fast(self, account: AccountSettings, args: Any, msg: Inbound) -> Result:
        """The hot path (fastpath.py); a retry or a busy follower takes the ordinary way."""
        account_id = accounts.account_id(account.slug)
        fp = self.fast(account)
        xml, needs_io = fp.one_trip(account_id, msg)
        if xml is not None:
            _INLINE.inc()
            return self.reply_body(account, args, xml)
        claim = fp.begin(account_id, msg)
        if not claim.claimed:
            return self._retry(account, args, msg) or self._handle_slow(account, args, msg)
        if claim.token is None:
            return self._handle_slow(account, args, msg)
        done = None if needs_io else fp.try_inline(account_id, msg, claim)
        if done is not None:
            _INLINE.inc()
        else:
            _BUDGETED.inc()
            late = fp.on_late(account_id, msg, claim, self._deferrer(account, account_id, msg))
            try:
                done = runner.run(self.app, lambda: fp.work(account_id, msg, claim),
                                  self.settings.app.reply_budget_ms / 1000, late)
            except Late:
                self.deduper.remember(account.app_id, msg.dedupe_id, SUCCESS)
                return self.reply_body(account, args, SUCCESS)
        if done.error is not None or done.outcome is None:
            fp.release(claim, msg, unclaim=True)
            raise done.error or RuntimeError("dispatch produced nothing")
        xml = answer_xml(done.outcome.reply, msg)
        fp.finish(account_id, msg, claim, done, reply_body=xml)
        return self.reply_body(account, args, xml)

    def _deferrer(self, account: AccountSettings, account_id: int, msg: Inbound) -> Callable[[Outcome], None]:
        """What happens to a reply that missed the budget: it goes to the outbox."""
        def late(outcome: Outcome) -> None:
            if outcome.reply is None:
                return
            messages.defer_reply(account_id=account_id, app_id=account.app_id, dedupe_id=msg.dedupe_id,
                                 openid=msg.openid, follower_id=outcome.follower_id, dealer_id=outcome.dealer_id,
                                 payload=to_custom_payload(outcome.reply))
            metrics.DEFERRED_REPLIES.inc()
            logger.info("reply to msg %s by %s went to the outbox", msg.dedupe_id, outcome.handler)
        return late

    def _dispatch(self, account: AccountSettings, msg: Inbound) -> str:
        account_id = accounts.account_id(account.slug)

        def job() -> Outcome:
            return process(msg, account=account, account_id=account_id, settings=self.settings,
                           store=self.store(account), dispatcher=self.dispatcher)

        try:
            outcome = runner.run(self.app, job, self.settings.app.reply_budget_ms / 1000,
                                 self._deferrer(account, account_id, msg))
        except Late:
            return SUCCESS
        return answer_xml(outcome.reply, msg)


def gateway_for(app: Flask) -> Gateway:
    """The app's gateway, built on first use (handlers are imported lazily, keeping scrm importable)."""
    gw = app.extensions.get("scrm.gateway")
    if gw is None:
        from handlers import ROUTERS

        rt = runtime.get()
        gw = Gateway(app=app, settings=app.extensions["scrm.settings"], dispatcher=Dispatcher(list(ROUTERS)),
                     deduper=Deduper(rt.redis, rt.settings.redis.prefix))
        app.extensions["scrm.gateway"] = gw
    return gw
