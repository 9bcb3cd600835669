"""Checking who is binding: the mobile lookup (rate-limited) and the plate / VIN check (attempt limits).

Nothing here reveals a record's name or plate: a lookup says only whether a record exists (a missing
one becomes a lead) and whether it can be verified; a verification says right or wrong.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from scrm import db
from scrm.models import Customer, Vehicle
from scrm.services import binding_limits, normalize
from scrm.services.binding import BindingError
from scrm.services.errors import Invalid
from scrm.services.normalize_base import N_

logger = logging.getLogger(__name__)


class BadMobile(Invalid):
    message = N_("That is not a mainland mobile number. Please send the 11-digit number, e.g. 13812345678.")

    def __init__(self) -> None:
        super().__init__(field="mobile")


class TooManyLookups(BindingError):
    message = N_("You have tried too many different mobile numbers. Please try again in an hour.")


class LockedOut(BindingError):
    """Too many wrong answers; `until` is when the follower may try again."""

    message = N_("Too many wrong answers.")

    def __init__(self, until: datetime) -> None:
        super().__init__()
        self.until = until


@dataclass(frozen=True)
class Lookup:
    """The outcome of a mobile lookup: the record (never shown to the follower), or none (a lead)."""

    mobile: str
    customer_id: int | None
    has_vehicles: bool


def ensure_not_locked(follower_id: int) -> None:
    """Raise LockedOut when the follower used up their wrong answers."""
    st = binding_limits.standing(follower_id)
    if st.locked_until is not None:
        raise LockedOut(st.locked_until)


def lookup(follower_id: int, dealer_id: int, raw_mobile: str) -> Lookup:
    """Normalise the mobile and find the dealer's live record with it (limits checked first)."""
    try:
        phone = normalize.phone(raw_mobile.strip()[:40])
    except normalize.FieldError:
        phone = None
    if phone is None or phone.kind != "mobile":
        raise BadMobile()
    ensure_not_locked(follower_id)
    if not binding_limits.allow_lookup(follower_id, phone.value):
        raise TooManyLookups()
    with db.transaction() as s:
        customer_id = s.scalar(sa.select(Customer.id).where(
            Customer.dealer_id == dealer_id, Customer.mobile == phone.value, Customer.merged_into_id.is_(None),
            Customer.erased_at.is_(None)))
        has_vehicles = customer_id is not None and s.scalar(
            sa.select(sa.func.count()).select_from(Vehicle).where(Vehicle.customer_id == customer_id)) != 0
    return Lookup(mobile=phone.value, customer_id=customer_id, has_vehicles=bool(has_vehicles))


def _answer_matches(answer: str, plates: list[str | None], vins: list[str | None]) -> bool:
    text = "".join(answer.split()).upper()
    if not text:
        return False
    try:
        plate = normalize.plate(text)
    except normalize.FieldError:
        plate = None
    for p in plates:
        if plate and p and "".join(p.split()).upper() == plate:
            return True
    return len(text) == 6 and any(v and v.strip().upper()[-6:] == text for v in vins)


def verify(follower_id: int, customer_id: int, answer: str) -> binding_limits.Standing:
    """Check the plate or the VIN's last 6 against the record; a wrong answer is counted.

    Returns the standing: `tries_left` > 0 and no lock means wrong-but-may-retry; raises LockedOut when
    the follower or the record is (or just became) locked; a right answer returns tries_left = -1.
    """
    before = binding_limits.standing(follower_id, customer_id)
    if before.locked_until is not None:
        raise LockedOut(before.locked_until)
    with db.transaction() as s:
        rows = s.execute(sa.select(Vehicle.plate, Vehicle.vin).where(Vehicle.customer_id == customer_id)).all()
    if _answer_matches(answer[:40], [r.plate for r in rows], [r.vin for r in rows]):
        binding_limits.forget_failures(follower_id)
        return binding_limits.Standing(tries_left=-1, locked_until=None)
    after = binding_limits.count_failure(follower_id, customer_id)
    logger.info("binding: wrong verification by follower %s for customer %s (%s left)", follower_id, customer_id,
                after.tries_left)
    if after.locked_until is not None:
        raise LockedOut(after.locked_until)
    return after

