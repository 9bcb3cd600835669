"""Clicks on tracked links: who opened which campaign or journey link, on the customer's timeline.

A click arrives as `/l/<token>/<delivery id>-<signature>` (see scrm.services.links). A verified reference
credits the click to the delivery's follower and customer; a forged or mangled one is still recorded,
anonymously, and the reader is still sent on. A second click from the same delivery on the same link
within DEDUPE_SECONDS (a double tap, a preview fetch) is not recorded again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import redis as redis_lib
import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db, runtime
from scrm.db import utcnow
from scrm.models import Customer, CustomerBinding, Delivery, LinkClick, TimelineEntry, TrackedLink
from scrm.services import links
from scrm.services.normalize_base import N_

logger = logging.getLogger(__name__)
DEDUPE_SECONDS = 30
TITLE_CAMPAIGN = N_("Opened a link from a campaign")
TITLE_JOURNEY = N_("Opened a link from a journey")
TITLE_LINK = N_("Opened a tracked link")


@dataclass(frozen=True)
class Click:
    """The outcome of one click: where to send the reader, and what was recorded."""

    url: str
    recorded: bool
    follower_id: int | None
    customer_id: int | None


def _safe(url: str) -> bool:
    """Only web links are followed (a stored `javascript:` URL must never become a redirect)."""
    return url.lower().startswith(("https://", "http://"))


def _first_click(link_id: int, delivery_id: int) -> bool:
    """True the first time this delivery's copy of the link is opened within the dedupe window."""
    r = runtime.get()
    try:
        return bool(r.redis.set(r.key("click", link_id, delivery_id), "1", nx=True, ex=DEDUPE_SECONDS))
    except redis_lib.RedisError:   # better a doubled click than a lost one, or a reader left waiting
        logger.warning("click dedupe unavailable for link %s delivery %s", link_id, delivery_id)
        return True


def _delivery_of(s: Session, link: TrackedLink, delivery_id: int | None) -> Delivery | None:
    """The delivery a verified reference names, when it really carried this link."""
    if delivery_id is None:
        return None
    d = s.get(Delivery, delivery_id)
    if d is None or d.account_id != link.account_id or d.follower_id is None:
        return None
    if link.campaign_id is not None and d.campaign_id != link.campaign_id:
        return None
    if link.journey_id is not None and d.journey_id != link.journey_id:
        return None
    return d


def _customer_of(s: Session, d: Delivery) -> Customer | None:
    """The customer the delivery was written for, else the follower's record at the delivery's dealer."""
    render = d.payload.get("render") if isinstance(d.payload, dict) else None
    raw = render.get("customer_id") if isinstance(render, dict) else None
    customer = s.get(Customer, raw) if isinstance(raw, int) else None
    if customer is None:
        q = sa.select(CustomerBinding.customer_id).where(CustomerBinding.follower_id == d.follower_id)
        if d.dealer_id is not None:
            q = q.where(CustomerBinding.dealer_id == d.dealer_id)
        cid = s.scalar(q.order_by(CustomerBinding.id).limit(1))
        customer = s.get(Customer, cid) if cid is not None else None
    if customer is not None and customer.merged_into_id is not None:
        customer = s.get(Customer, customer.merged_into_id)
    if customer is None or customer.erased_at is not None or customer.account_id != d.account_id:
        return None
    return customer


def _timeline(s: Session, link: TrackedLink, customer: Customer, delivery_id: int) -> None:
    detail: dict[str, Any] = {"url": link.url, "link_id": link.id, "delivery_id": delivery_id}
    if link.campaign_id is not None:
        detail["campaign_id"], title = link.campaign_id, TITLE_CAMPAIGN
    elif link.journey_id is not None:
        detail["journey_id"], title = link.journey_id, TITLE_JOURNEY
    else:
        title = TITLE_LINK
    now = utcnow()
    s.add(TimelineEntry(account_id=customer.account_id, dealer_id=customer.dealer_id, customer_id=customer.id,
                        kind="link_click", title=title, detail=detail, occurred_at=now, created_at=now))


def click(token: str, ref: str) -> Click | None:
    """Record a click on `/l/<token>/<ref>` (one transaction); None when the link is unknown."""
    if not token or len(token) > 16:
        return None
    with db.transaction() as s:
        link = s.scalar(sa.select(TrackedLink).where(TrackedLink.token == token))
        if link is None or not _safe(link.url):
            return None
        d = _delivery_of(s, link, links.verify(token, ref))
        if d is not None and not _first_click(link.id, d.id):
            return Click(url=link.url, recorded=False, follower_id=d.follower_id, customer_id=None)
        customer = _customer_of(s, d) if d is not None else None
        s.add(LinkClick(link_id=link.id, account_id=link.account_id, follower_id=d.follower_id if d else None,
                        customer_id=customer.id if customer else None, delivery_id=d.id if d else None,
                        clicked_at=utcnow()))
        if customer is not None and d is not None:
            _timeline(s, link, customer, d.id)
        return Click(url=link.url, recorded=True, follower_id=d.follower_id if d else None,
                     customer_id=customer.id if customer else None)


def _counts(s: Session, where: sa.ColumnElement[bool]) -> tuple[int, int]:
    row = s.execute(sa.select(sa.func.count(LinkClick.id), sa.func.count(sa.distinct(LinkClick.follower_id)))
                    .select_from(LinkClick).join(TrackedLink, TrackedLink.id == LinkClick.link_id)
                    .where(where)).one()
    return int(row[0] or 0), int(row[1] or 0)


def count_for_campaign(s: Session, campaign_id: int) -> tuple[int, int]:
    """(clicks, unique followers who clicked) over every link of a campaign; anonymous clicks count as clicks."""
    return _counts(s, TrackedLink.campaign_id == campaign_id)


def count_for_journey(s: Session, journey_id: int) -> tuple[int, int]:
    """(clicks, unique followers who clicked) over every link of a journey."""
    return _counts(s, TrackedLink.journey_id == journey_id)


def clicks_by_url(s: Session, *, campaign_id: int | None = None,
                  journey_id: int | None = None) -> list[tuple[str, int]]:
    """(url, clicks) for each link of a campaign or a journey, most clicked first."""
    where = TrackedLink.campaign_id == campaign_id if campaign_id is not None else TrackedLink.journey_id == journey_id
    n = sa.func.count(LinkClick.id)
    rows = s.execute(sa.select(TrackedLink.url, n).select_from(TrackedLink)
                     .outerjoin(LinkClick, LinkClick.link_id == TrackedLink.id)
                     .where(where).group_by(TrackedLink.id, TrackedLink.url).order_by(n.desc(), TrackedLink.url))
    return [(str(url), int(count)) for url, count in rows]
