"""The chat answer to the satisfaction question: which visit a bare "1"-"5" rates, recording it, and the
timeline entry that flags a low score to staff.

A follower's digits are an answer only when we sent that follower the question (a `booking:<id>:rating:<f>`
outbox row, sent) within ANSWER_DAYS and the visit is completed and still unrated; the most recently asked
one wins. Anything else is not ours to take: the digits go on to the other routers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Booking, BookingStatus, Dealer, Delivery, DeliveryStatus, ServiceType, TimelineEntry
from scrm.services import booking_status, events_bus
from scrm.services.booking_events import BookingRated
from scrm.services.normalize_base import N_

ANSWER_DAYS = 7
LOW_SCORE = 2
_KEY = re.compile(r"^booking:(\d+):rating:\d+$")
_CHINESE = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_ANSWER = re.compile(r"^(\d{1,2}|[零一二两三四五六七八九十])\s*(?:分|星|颗星)?[。.!！]?$")


def parse_score(text: str) -> int | None:
    """The number a bare answer gives ("5", "５", "5分", "五分", "4星"), or None for anything else."""
    m = _ANSWER.match(unicodedata.normalize("NFKC", text).strip())
    if m is None:
        return None
    raw = m.group(1)
    return int(raw) if raw.isdigit() else _CHINESE[raw]


def pending(follower_id: int, now: datetime | None = None) -> int | None:
    """The booking whose satisfaction question the follower may answer now, or None."""
    now = now or db.utcnow()
    s = db.session()
    try:
        keys = s.scalars(sa.select(Delivery.dedupe_key).where(
            Delivery.follower_id == follower_id, Delivery.dedupe_key.like("booking:%:rating:%"),
            Delivery.status.in_((DeliveryStatus.SENT, DeliveryStatus.DELIVERED)),
            Delivery.sent_at >= now - timedelta(days=ANSWER_DAYS)).order_by(Delivery.sent_at.desc()).limit(20))
        ids = [int(m.group(1)) for k in keys if (m := _KEY.match(k))]
        if not ids:
            return None
        open_ids = set(s.scalars(sa.select(Booking.id).where(
            Booking.id.in_(ids), Booking.status == BookingStatus.COMPLETED, Booking.satisfaction.is_(None))))
        return next((i for i in ids if i in open_ids), None)
    finally:
        s.rollback()


@dataclass(frozen=True)
class Rated:
    """A recorded answer: the score and the dealer's name (for the thanks)."""

    booking_id: int
    score: int
    dealer: str


def answer(follower_id: int, booking_id: int, score: int, now: datetime | None = None) -> Rated:
    """Record the follower's score (a low one reaches the timeline through the BookingRated subscriber).

    Raises Invalid for a score outside 1-5 and DomainError when the visit can no longer be rated.
    """
    now = now or db.utcnow()
    b = booking_status.rate(booking_id, score, follower_id=follower_id, now=now)
    dealer = db.session.get(Dealer, b.dealer_id)
    db.session.rollback()
    return Rated(booking_id=b.id, score=score, dealer=dealer.name if dealer else "")


def note_low_score(s: Session, event: BookingRated) -> None:
    """A score of LOW_SCORE or less puts "低分评价" on the customer's timeline (once per booking) for staff."""
    if event.score > LOW_SCORE or event.customer_id is None:
        return
    done = s.scalar(sa.select(TimelineEntry.id).where(
        TimelineEntry.customer_id == event.customer_id, TimelineEntry.kind == "low_rating",
        TimelineEntry.detail["booking_id"].as_integer() == event.booking_id))
    if done is not None:
        return
    st = s.get(ServiceType, event.service_type_id)
    s.add(TimelineEntry(account_id=event.account_id, dealer_id=event.dealer_id, customer_id=event.customer_id,
                        kind="low_rating", title=N_("Low satisfaction rating"),
                        detail={"booking_id": event.booking_id, "score": event.score,
                                "service": st.name if st else ""},
                        occurred_at=db.utcnow()))


events_bus.subscribe(BookingRated, note_low_score, name="booking.low_rating")
