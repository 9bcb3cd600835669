"""The message editor's services: the account's template choices, a preview for one customer, a test send.

A preview renders the staff member's text for a customer in their scope (or the sample owner) and lists
what WeChat would refuse; a test send enqueues that rendering to the staff member's own linked WeChat
(StaffUser.follower_id, see scrm.services.staff_wechat), at most TEST_SENDS_PER_HOUR an hour.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

import requests
import sqlalchemy as sa
from jinja2.exceptions import SecurityError, UndefinedError
from sqlalchemy.orm import Session
from wechatpy.exceptions import WeChatClientException

from scrm import db, runtime
from scrm.db import utcnow
from scrm.models import Account, CampaignChannel, Channel, Customer, CustomerBinding, Dealer, Follower, StaffUser
from scrm.outbox.enqueue import enqueue
from scrm.services import accounts, audit, compose, compose_env
from scrm.services.compose_context import contexts, dealer_context
from scrm.services.customer_admin import CustomerFilter, list_customers, show_phone
from scrm.services.errors import DomainError, Forbidden, Invalid
from scrm.services.normalize_base import N_
from scrm.services.scope import Perm, Scope
from scrm.wechat.client import api_for
from scrm.wechat.errors import WeChatError

log = logging.getLogger(__name__)

TEMPLATE_CACHE_SECONDS = 600
TEMPLATE_ERROR_CACHE_SECONDS = 60
TEST_SENDS_PER_HOUR = 10
SEARCH_LIMIT = 8
_KEYWORD = re.compile(r"\{\{\s*([A-Za-z_]+\d*)\.DATA\s*\}\}")

audit.ACTIONS.update({"compose.test_send": N_("Sent a test message to own WeChat")})


class NotLinked(DomainError):
    message = N_("Link your WeChat first: test messages go to your own WeChat.")


class FollowerGone(DomainError):
    message = N_("Your linked WeChat no longer follows the account. Follow it again, or link another WeChat.")


class TooManyTests(DomainError):
    message = N_("At most %(n)s test sends an hour. Please try again later.")


@dataclass(frozen=True)
class Preview:
    """A message rendered for one recipient: the WeChat payload(s), the limits it breaks, and for whom."""

    channel: CampaignChannel
    payload: dict[str, Any]
    problems: list[tuple[str, dict[str, object]]]
    customer: str


def may_compose(scope: Scope) -> bool:
    """True when the user writes campaign or journey messages."""
    return scope.can(Perm.CAMPAIGNS_MANAGE) or scope.can(Perm.JOURNEYS_EDIT)


def _require(scope: Scope) -> None:
    if not may_compose(scope):
        raise Forbidden()


def keywords_of(content: str) -> list[str]:
    """The field keywords of a template's content: '{{thing1.DATA}}' -> 'thing1', in order, once each."""
    return list(dict.fromkeys(m.group(1) for m in _KEYWORD.finditer(content or "")))


def templates_for(account_slug: str) -> list[tuple[str, str, list[str]]]:
    """The account's template messages as (template_id, title, keywords); [] when WeChat cannot say."""
    rt = runtime.get()
    key = rt.key("compose", "templates", account_slug)
    cached = rt.redis.get(key)
    if cached is not None:
        return [(str(t), str(title), [str(k) for k in kws]) for t, title, kws in json.loads(cached)]
    try:
        api = api_for(accounts.settings_for(account_slug))
        items = api.private_templates()
        out = [(str(i["template_id"]), str(i.get("title") or i["template_id"]), keywords_of(str(i.get("content", ""))))
               for i in items if isinstance(i, dict) and i.get("template_id")]
        ttl = TEMPLATE_CACHE_SECONDS
    except (KeyError, WeChatClientException, WeChatError, requests.RequestException, ValueError) as exc:
        log.warning("template list of %s unavailable: %s", account_slug, exc)
        out, ttl = [], TEMPLATE_ERROR_CACHE_SECONDS
    rt.redis.set(key, json.dumps(out, ensure_ascii=False), ex=ttl)
    return out


def templates_in_scope(scope: Scope) -> list[tuple[str, str, list[str]]]:
    """The template choices of the user's account."""
    with db.transaction() as s:
        slug = s.scalar(sa.select(Account.slug).where(Account.id == scope.account_id))
    return templates_for(slug) if slug else []


def forget_templates(account_slug: str) -> None:
    """Drop the cached template list (after templates change)."""
    rt = runtime.get()
    rt.redis.delete(rt.key("compose", "templates", account_slug))


def find_customers(scope: Scope, q: str) -> list[dict[str, Any]]:
    """Customers in scope matching a name, mobile or plate, for the preview's customer picker."""
    _require(scope)
    if not q.strip():
        return []
    page = list_customers(scope, CustomerFilter(q=q), per_page=SEARCH_LIMIT)
    return [{"id": r.customer.id,
             "label": " · ".join(p for p in (r.customer.name or "—", show_phone(scope, r.customer.mobile),
                                            " ".join(r.plates[:2])) if p)}
            for r in page.rows]


def _today() -> Any:
    return utcnow().astimezone(runtime.get().settings.app.tz).date()


def _context(s: Session, scope: Scope, customer_id: int | None) -> tuple[dict[str, Any], str]:
    """The template context for a customer in scope (NotFound otherwise), or the sample owner."""
    language = runtime.get().settings.app.default_language
    if customer_id is None:
        ctx = copy.deepcopy(compose_env.SAMPLE)
        dealer = s.get(Dealer, scope.dealer_id) if scope.dealer_id else None
        if dealer is not None:
            ctx["dealer"] = dealer_context(dealer)
        ctx["today"] = _today()
        return ctx, ""
    customer = scope.get(s, Customer, customer_id)
    if customer.erased_at is not None or customer.merged_into_id is not None:
        raise Invalid("This customer record is no longer in use.", field="customer")
    follower_id = s.scalar(sa.select(CustomerBinding.follower_id).where(CustomerBinding.customer_id == customer.id)
                           .order_by(CustomerBinding.id).limit(1)) or 0
    ctx = contexts(s, [(customer.id, follower_id)], dealer_id=customer.dealer_id, today=_today(),
                   language=language)[follower_id]
    return ctx, customer.name or show_phone(scope, customer.mobile) or f"#{customer.id}"


def preview(scope: Scope, message: Any, channel: CampaignChannel, customer_id: int | None = None) -> Preview:
    """`message` checked for `channel` (Invalid names the field) and rendered for the customer or the sample."""
    _require(scope)
    checked = compose.normalise(message, channel)
    with db.transaction() as s:
        ctx, label = _context(s, scope, customer_id)
    try:
        payload = compose.render(checked, channel, ctx)
    except (SecurityError, UndefinedError, TypeError, ValueError, AttributeError) as exc:
        raise Invalid("The text cannot be rendered: %(error)s", error=str(exc)[:200]) from exc
    return Preview(channel, payload, compose.problems(payload, channel), label)


def _count_test(staff_id: int) -> None:
    rt = runtime.get()
    key = rt.key("compose", "tests", staff_id)
    rt.redis.set(key, 0, ex=3600, nx=True)   # the hour starts with the first test send
    if int(rt.redis.incr(key)) > TEST_SENDS_PER_HOUR:
        raise TooManyTests(n=TEST_SENDS_PER_HOUR)


def _delivery(channel: CampaignChannel, payload: dict[str, Any]) -> tuple[Channel, dict[str, Any]]:
    if channel == CampaignChannel.AUTO:
        return Channel.AUTO, payload
    if channel == CampaignChannel.TEMPLATE:
        return Channel.TEMPLATE, payload
    return Channel.CUSTOM, payload   # a mass send cannot go to one person: its text goes as a chat message


def test_send(scope: Scope, *, staff_id: int, message: Any, channel: CampaignChannel,
              customer_id: int | None = None, ip: str = "") -> int:
    """Enqueue the message, rendered for the customer (or the sample), to the staff member's own WeChat."""
    shown = preview(scope, message, channel, customer_id)
    if shown.problems:
        text, params = shown.problems[0]
        raise Invalid(text, field="", **params)
    with db.transaction() as s:
        staff = s.get(StaffUser, staff_id)
        if staff is None or staff.follower_id is None:
            raise NotLinked()
        follower = s.get(Follower, staff.follower_id)
        if follower is None or not follower.subscribed or follower.account_id != staff.account_id:
            raise FollowerGone()
        _count_test(staff.id)
        out_channel, payload = _delivery(channel, shown.payload)
        row_id = enqueue(s, account_id=staff.account_id, dedupe_key=f"test:{staff.id}:{uuid.uuid4().hex}",
                         channel=out_channel, payload=payload, follower_id=follower.id, openid=follower.openid,
                         dealer_id=staff.dealer_id, purpose="test")
        audit.record(s, staff=staff, action="compose.test_send", target_type="delivery", target_id=row_id or "",
                     detail={"channel": channel.value, "customer_id": customer_id}, ip=ip)
    return int(row_id or 0)
