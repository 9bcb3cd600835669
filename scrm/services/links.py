"""Tracked links: each fixed link in a campaign or journey message goes out as our redirect, personal to
its delivery (`/l/<token>/<delivery id>-<signature>`), so a click is recorded on the customer's timeline.

The signature (HMAC with the app's secret) stops anyone from crediting clicks to other people's deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import runtime
from scrm.models import TrackedLink


def _sig(token: str, delivery_id: int) -> str:
    key = runtime.get().settings.app.secret_key.encode()
    return hmac.new(key, f"link:{token}:{delivery_id}".encode(), hashlib.sha256).hexdigest()[:12]


def tracked_url(token: str, delivery_id: int) -> str:
    """The personal redirect for one delivery's copy of the link."""
    base = runtime.get().settings.app.public_url.rstrip("/")
    return f"{base}/l/{token}/{delivery_id}-{_sig(token, delivery_id)}"


def verify(token: str, ref: str) -> int | None:
    """The delivery id of a `<id>-<signature>` reference when its signature is right, else None."""
    raw_id, _, sig = ref.partition("-")
    if not raw_id.isdigit() or len(raw_id) > 18:
        return None
    delivery_id = int(raw_id)
    return delivery_id if hmac.compare_digest(sig, _sig(token, delivery_id)) else None


def ensure(s: Session, account_id: int, urls: Iterable[str], *, campaign_id: int | None = None,
           journey_id: int | None = None) -> dict[str, str]:
    """url -> token for each link of a campaign or journey, created when missing (in the caller's transaction)."""
    wanted = [u[:1000] for u in dict.fromkeys(urls)]
    if not wanted:
        return {}
    found = {u: t for u, t in s.execute(
        sa.select(TrackedLink.url, TrackedLink.token)
        .where(TrackedLink.account_id == account_id, TrackedLink.url.in_(wanted),
               TrackedLink.campaign_id.is_(None) if campaign_id is None else TrackedLink.campaign_id == campaign_id,
               TrackedLink.journey_id.is_(None) if journey_id is None else TrackedLink.journey_id == journey_id))}
    for url in wanted:
        if url not in found:
            token = secrets.token_urlsafe(9)[:12]
            s.add(TrackedLink(account_id=account_id, token=token, url=url, campaign_id=campaign_id,
                              journey_id=journey_id))
            found[url] = token
    s.flush()
    return found
