"""Dealers nearest to a point: great-circle distance (haversine) to the account's active dealers that
have coordinates, nearest first; and the follower's last reported position when it is recent enough.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from scrm import db
from scrm.models import Dealer, Follower
from scrm.services.dealer_cards import DealerCard, card_in

EARTH_RADIUS_KM = 6371.0088
RECENT = timedelta(hours=24)  # a position older than this is not "where the follower is now"
LIMIT = 5


@dataclass(frozen=True)
class NearbyDealer:
    """A dealer and its distance from the follower."""

    card: DealerCard
    km: float


@dataclass(frozen=True)
class Position:
    """A reported position and when it was reported."""

    latitude: float
    longitude: float
    at: datetime


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """The great-circle distance between two points, in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def valid(latitude: float | None, longitude: float | None) -> bool:
    """Whether the coordinates are a usable position."""
    return (latitude is not None and longitude is not None and -90 <= latitude <= 90 and -180 <= longitude <= 180
            and not (latitude == 0 and longitude == 0))


def nearest(account_id: int, latitude: float, longitude: float, limit: int = LIMIT) -> list[NearbyDealer]:
    """The account's active dealers with coordinates, nearest first (ties by name)."""
    with db.transaction() as s:
        rows = s.execute(sa.select(Dealer.id, Dealer.latitude, Dealer.longitude)
                         .where(Dealer.account_id == account_id, Dealer.active.is_(True),
                                Dealer.latitude.is_not(None), Dealer.longitude.is_not(None))).all()
        ranked = sorted((haversine_km(latitude, longitude, float(r.latitude), float(r.longitude)), r.id)
                         for r in rows)
        out = []
        for km, dealer_id in ranked[:max(0, limit)]:
            card = card_in(s, dealer_id)
            if card is not None:
                out.append(NearbyDealer(card=card, km=km))
        return out


def last_position(follower_id: int, max_age: timedelta | None = RECENT, now: datetime | None = None) -> Position | None:
    """The follower's last reported position, if any and (with `max_age`) not older than that."""
    with db.transaction() as s:
        row = s.execute(sa.select(Follower.latitude, Follower.longitude, Follower.location_at)
                        .where(Follower.id == follower_id)).first()
    if row is None or row.latitude is None or row.longitude is None or row.location_at is None:
        return None
    if max_age is not None and row.location_at < (now or db.utcnow()) - max_age:
        return None
    return Position(latitude=float(row.latitude), longitude=float(row.longitude), at=row.location_at)
