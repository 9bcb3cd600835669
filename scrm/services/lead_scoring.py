"""Lead scores: each prospect's test-drive readiness from engagement and stated intent, rewritten nightly.

Prospects are the subscribed followers of the account who are not staff and whose bound record (if any)
is not an owner. Each signal is gathered with one grouped query over the account; the rows are then
upserted in batches (keeping `invited_at`) and the rows of followers who are no longer prospects go.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.models import (
    Booking,
    BookingStatus,
    Budget,
    BuyTimeline,
    Customer,
    CustomerBinding,
    Dealer,
    Direction,
    Follower,
    LeadIntent,
    LinkClick,
    Member,
    MessageLog,
    Referral,
    ServiceKind,
    ServiceType,
    StaffUser,
    Stage,
    Vehicle,
)
from scrm.services.analytics_common import tune
from scrm.services.lead_intent import models_of
from scrm.services.lead_scoring_write import write_scores

MENU_POINTS, MENU_MAX = 3, 15
LINK_POINTS, LINK_MAX = 4, 16
MODEL_POINTS, MODEL_MAX = 8, 16
RECENT_POINTS = 5
REFERRED_POINTS = 8
TEST_DRIVE_POINTS = -20
BUDGET_POINTS, MODEL_STATED_POINTS = 5, 3
TIMELINE_POINTS = {BuyTimeline.WITHIN_1M: 25, BuyTimeline.WITHIN_3M: 18, BuyTimeline.WITHIN_6M: 10,
                   BuyTimeline.LATER: 3, BuyTimeline.JUST_LOOKING: 0}
DISTANCE_BANDS = ((10.0, 12), (30.0, 8), (60.0, 4))
FAR_KM, FAR_POINTS = 150.0, -5
INTENT_CODES = frozenset({"timeline", "budget", "model"})


def prospects_query(account_id: int) -> sa.Select[int, int | None, Decimal | None, Decimal | None, int | None]:
    """Subscribed, non-staff followers of the account with no owner record bound."""
    staff = sa.select(StaffUser.follower_id).where(StaffUser.account_id == account_id,
                                                   StaffUser.follower_id.is_not(None))
    vehicle_owners = sa.select(Vehicle.customer_id).where(Vehicle.account_id == account_id)
    # NOT IN (not a correlated NOT EXISTS): PostgreSQL hashes the owners once instead of probing the
    # bindings, customers and vehicles for each of several hundred thousand followers.
    owners = (sa.select(CustomerBinding.follower_id).join(Customer, Customer.id == CustomerBinding.customer_id)
              .where(CustomerBinding.account_id == account_id,
                     sa.or_(Customer.stage == Stage.OWNER, Customer.id.in_(vehicle_owners))))
    return sa.select(Follower.id, Follower.dealer_id, Follower.latitude, Follower.longitude,
                     Follower.referrer_id).where(
        Follower.account_id == account_id, Follower.subscribed.is_(True), Follower.id.not_in(staff),
        Follower.id.not_in(owners))


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


def distance_points(km: float) -> int:
    """Points for the distance to the dealer."""
    for limit, points in DISTANCE_BANDS:
        if km <= limit:
            return points
    return FAR_POINTS if km > FAR_KM else 0


def short_forms(model: str) -> list[str]:
    """How a model may be written in a message: whole, and without the brand before a space."""
    low = model.lower().strip()
    forms = [low]
    if " " in low:
        tail = low.split(" ", 1)[1].strip()
        if len(tail) >= 2:
            forms.append(tail)
    return forms


@dataclass
class Signals:
    """Every signal of the account, keyed by follower id."""

    menu: dict[int, int]
    links: dict[int, int]
    texts: dict[int, list[str]]
    recent: set[int]
    referred: set[int]
    test_drive: set[int]
    intents: dict[int, tuple[str, Budget | None, BuyTimeline | None]]
    customers: dict[int, tuple[int, int]]          # follower -> (customer, its dealer)


def _counts(s: Session, stmt: sa.Select[int | None, int]) -> dict[int, int]:
    return {int(f): int(n) for f, n in s.execute(stmt) if f is not None}


def gather(s: Session, account_id: int, now: datetime) -> Signals:
    """One grouped query per signal over the whole account."""
    menu = _counts(s, sa.select(MessageLog.follower_id, sa.func.count()).where(
        MessageLog.account_id == account_id, MessageLog.direction == Direction.IN, MessageLog.msg_type == "event",
        sa.func.lower(MessageLog.event).in_(("click", "view")), MessageLog.created_at >= now - timedelta(days=30))
        .group_by(MessageLog.follower_id))
    links = _counts(s, sa.select(LinkClick.follower_id, sa.func.count()).where(
        LinkClick.account_id == account_id, LinkClick.clicked_at >= now - timedelta(days=30))
        .group_by(LinkClick.follower_id))
    texts: dict[int, list[str]] = defaultdict(list)
    recent: set[int] = set()
    week = now - timedelta(days=7)
    text_rows: Any = s.execute(sa.select(MessageLog.follower_id, MessageLog.content, MessageLog.created_at)
                                    .where(MessageLog.account_id == account_id, MessageLog.direction == Direction.IN,
                                           MessageLog.msg_type == "text",
                                           MessageLog.created_at >= now - timedelta(days=90),
                                           MessageLog.follower_id.is_not(None)))
    for f, content, at in text_rows:
        texts[int(f)].append((content or "").lower())
        if at >= week:
            recent.add(int(f))
    referred = set(s.scalars(sa.select(Member.follower_id).join(Referral, Referral.referee_id == Member.id)
                             .where(Referral.account_id == account_id)))
    customers: dict[int, tuple[int, int]] = {}
    for f, c, d in s.execute(sa.select(CustomerBinding.follower_id, CustomerBinding.customer_id,
                                       CustomerBinding.dealer_id)
                             .where(CustomerBinding.account_id == account_id).order_by(CustomerBinding.id.desc())):
        customers[int(f)] = (int(c), int(d))
    by_customer = {c: f for f, (c, _) in customers.items()}
    test_drive: set[int] = set()
    drives: Any = s.execute(sa.select(Booking.follower_id, Booking.customer_id)
                          .join(ServiceType, ServiceType.id == Booking.service_type_id)
                          .where(Booking.account_id == account_id, ServiceType.kind == ServiceKind.TEST_DRIVE,
                                 Booking.status == BookingStatus.COMPLETED,
                                 Booking.start_at >= now - timedelta(days=60)))
    for f, c in drives:
        if f is not None:
            test_drive.add(int(f))
        if c is not None and c in by_customer:
            test_drive.add(by_customer[c])
    intents = {int(f): (m or "", b, t) for f, m, b, t in s.execute(
        sa.select(LeadIntent.follower_id, LeadIntent.model, LeadIntent.budget, LeadIntent.timeline)
        .where(LeadIntent.account_id == account_id))}
    return Signals(menu, links, dict(texts), recent, referred, test_drive, intents, customers)


def score_one(fid: int, referrer: int | None, km: float | None, vocab: list[tuple[str, list[str]]],
              sig: Signals) -> tuple[int, int, int, list[dict[str, Any]], list[str]]:
    """(score, engagement, intent, parts, models) of one prospect."""
    parts: list[dict[str, Any]] = []

    def add(code: str, points: int, value: Any) -> None:
        parts.append({"code": code, "points": points, "value": value})

    if n := sig.menu.get(fid, 0):
        add("menu_taps", min(n * MENU_POINTS, MENU_MAX), n)
    if n := sig.links.get(fid, 0):
        add("link_clicks", min(n * LINK_POINTS, LINK_MAX), n)
    models: list[str] = []
    messages = sig.texts.get(fid)
    if messages and vocab:
        joined = "\n".join(messages)
        models = [m for m, forms in vocab if any(form in joined for form in forms)]
        if models:
            add("models_asked", min(len(models) * MODEL_POINTS, MODEL_MAX), len(models))
    if fid in sig.recent:
        add("recent_message", RECENT_POINTS, 1)
    if km is not None and (points := distance_points(km)):
        add("distance", points, round(km, 1))
    if referrer is not None or fid in sig.referred:
        add("referred", REFERRED_POINTS, 1)
    if fid in sig.test_drive:
        add("test_drive_done", TEST_DRIVE_POINTS, 1)
    stated = sig.intents.get(fid)
    if stated is not None:
        model, budget, timeline = stated
        if timeline is not None:
            add("timeline", TIMELINE_POINTS[BuyTimeline(timeline)], BuyTimeline(timeline).value)
        if budget is not None:
            add("budget", BUDGET_POINTS, Budget(budget).value)
        if model:
            add("model", MODEL_STATED_POINTS, model)
            if model not in models:
                models.append(model)
    intent = sum(p["points"] for p in parts if p["code"] in INTENT_CODES)
    engagement = sum(p["points"] for p in parts if p["code"] not in INTENT_CODES)
    parts.sort(key=lambda p: -abs(int(p["points"])))
    return max(0, min(100, engagement + intent)), engagement, intent, parts, models


def score_all(s: Session, account_id: int, now: datetime) -> int:
    """Rewrite every prospect's lead score; the rows written."""
    tune(s)
    prospects = s.execute(prospects_query(account_id)).all()
    sig = gather(s, account_id, now)
    dealer_of = {fid: dealer or (sig.customers[fid][1] if fid in sig.customers else None)
                 for fid, dealer, *_ in prospects}
    vocab = {d: [(m, short_forms(m)) for m in ms] for d, ms in models_of(s, dealer_of.values()).items()}
    places = {int(d): (float(lat or 0), float(lon or 0)) for d, lat, lon in s.execute(
        sa.select(Dealer.id, Dealer.latitude, Dealer.longitude).where(
            Dealer.account_id == account_id, Dealer.latitude.is_not(None), Dealer.longitude.is_not(None)))}
    rows: list[dict[str, Any]] = []
    for fid, _, lat, lon, referrer in prospects:
        dealer = dealer_of[fid]
        km = None
        if lat is not None and lon is not None and dealer in places:
            km = haversine_km(float(lat), float(lon), *places[dealer])
        score, engagement, intent, parts, models = score_one(fid, referrer, km, vocab.get(dealer or 0, []), sig)
        rows.append(dict(account_id=account_id, dealer_id=dealer, follower_id=fid,
                         customer_id=sig.customers[fid][0] if fid in sig.customers else None, score=score,
                         engagement=engagement, intent=intent, parts=parts, models=models,
                         distance_km=None if km is None else Decimal(str(round(min(km, 9999999.0), 1))),
                         scored_at=now))
    write_scores(s, account_id, rows, prospects_query(account_id).with_only_columns(Follower.id))
    return len(rows)
