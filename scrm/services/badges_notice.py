"""The member's notice of a new badge: one AUTO customer-service text per member and badge, via the outbox."""

from __future__ import annotations

import logging
import threading

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.orm import Session

from scrm import ROOT, runtime
from scrm.models import Account, Badge, Channel, Follower, Member
from scrm.outbox.enqueue import enqueue
from scrm.wechat.render import translations

log = logging.getLogger(__name__)
PURPOSE = "transactional"
_lock = threading.Lock()
_envs: dict[str, Environment] = {}


def dedupe_key(badge_id: int, member_id: int) -> str:
    """The outbox key of the notice of one badge to one member (written once)."""
    return f"badge:{badge_id}:{member_id}"


def _environment(language: str) -> Environment:
    env = _envs.get(language)
    if env is None:
        with _lock:
            env = _envs.get(language)
            if env is None:
                # Plain chat text, never HTML: no escaping (WeChat shows it as typed).
                env = Environment(loader=FileSystemLoader(str(ROOT / "templates" / "notices")),
                                  autoescape=False,  # noqa: S701
                                  extensions=["jinja2.ext.i18n"], undefined=StrictUndefined,
                                  trim_blocks=True, lstrip_blocks=True, auto_reload=False)
                env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
                _envs[language] = env
    return env


def text(badge: Badge, language: str, link: str) -> str:
    """The chat text announcing `badge` (templates/notices/badges/awarded.txt) in `language`."""
    return _environment(language).get_template("badges/awarded.txt").render(badge=badge, link=link).strip()


def enqueue_awarded(s: Session, member: Member, badge: Badge) -> int | None:
    """Write the notice of `badge` to the member's follower in the caller's transaction; the new row id or None."""
    follower = s.get(Follower, member.follower_id)
    if follower is None or not follower.subscribed:
        return None
    acc = s.get(Account, member.account_id)
    account = runtime.get().settings.account(acc.slug) if acc is not None else None
    if account is None:
        log.warning("member %s: its account is not configured; no badge notice written", member.id)
        return None
    link = runtime.get().settings.app.public_url.rstrip("/") + f"/h5/{account.slug}/member"
    body = {"custom": {"msgtype": "text", "text": {"content": text(badge, account.language, link)}}}
    return enqueue(s, account_id=member.account_id, dedupe_key=dedupe_key(badge.id, member.id),
                   channel=Channel.AUTO, payload=body, follower_id=follower.id, openid=follower.openid,
                   dealer_id=member.dealer_id, purpose=PURPOSE)
