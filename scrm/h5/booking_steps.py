"""The steps of the H5 booking page, read from the query (or the form): dealer, service, demo model, day, time.

Each step is only taken when the one before it is settled; a value that does not fit (an unknown dealer,
a full day, a time that is no longer free) is dropped with a notice, so the page falls back to that step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from flask import url_for
from flask_babel import gettext

from scrm.h5.booking_common import Visitor
from scrm.services import binding, booking_h5, dealer_cards
from scrm.services.booking_availability import FreeSlot
from scrm.services.booking_h5 import Calendar, ServiceChoice
from scrm.services.dealer_cards import DealerCard
from scrm.services.errors import DomainError

MAX_DEALERS = 50


@dataclass
class Steps:
    """Where the follower is in booking, and what each step offers."""

    slug: str
    dealers: list[DealerCard]
    dealer: DealerCard | None = None
    picking_dealer: bool = False
    services: list[ServiceChoice] = field(default_factory=list)
    service: ServiceChoice | None = None
    models: list[str] = field(default_factory=list)
    model: str = ""
    cal: Calendar | None = None
    tz: ZoneInfo | None = None
    day: date | None = None
    time: time | None = None
    slot: FreeSlot | None = None
    notice: str = ""

    def url(self, fragment: str = "", **changes: object) -> str:
        """This page's URL with some steps changed (None drops a step), jumping to `fragment`."""
        values: dict[str, object] = {
            "dealer": self.dealer.id if self.dealer else None, "service": self.service.id if self.service else None,
            "model": self.model or None, "day": self.day.isoformat() if self.day else None,
            "time": self.time.strftime("%H:%M") if self.time else None}
        values.update(changes)
        params: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
        return url_for("h5.book", slug=self.slug, _anchor=fragment or None, **params)

    def day_url(self, d: date) -> str:
        """The link of a calendar day."""
        return self.url("step-time", day=d.isoformat(), time=None)

    def time_url(self, slot: FreeSlot) -> str:
        """The link of a free time."""
        return self.url("step-confirm", time=slot.local.strftime("%H:%M"))

    @property
    def start_local(self) -> datetime | None:
        """The chosen start in the dealer's time zone."""
        if self.day is None or self.time is None or self.tz is None:
            return None
        return datetime.combine(self.day, self.time, self.tz)

    @property
    def start_utc(self) -> datetime | None:
        """The chosen start as a UTC instant (None when not chosen or not a real local time)."""
        if self.day is None or self.time is None or self.tz is None:
            return None
        return booking_h5.start_at(self.day, self.time, self.tz)

    @property
    def ready(self) -> bool:
        """Everything is chosen: the confirmation form can be shown."""
        return self.start_local is not None


def _int(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() and len(raw) < 10 else None


def _default_dealer(v: Visitor, dealers: list[DealerCard]) -> DealerCard | None:
    """The follower's own dealer, else the dealer of a bound record, else the only dealer there is."""
    own = binding.dealer_of(v.account_id, v.follower.dealer_id)
    if own is None:
        own = next((binding.dealer_of(v.account_id, b.dealer_id) for b in binding.bindings_of(v.follower.id)), None)
    if own is not None:
        return next((d for d in dealers if d.id == own), None) or dealer_cards.dealer_card(own)
    return dealers[0] if len(dealers) == 1 else None


def _pick_dealer(v: Visitor, args: Mapping[str, str], st: Steps) -> None:
    wanted = _int(args.get("dealer"))
    if wanted is not None and binding.dealer_of(v.account_id, wanted) is not None:
        st.dealer = next((d for d in st.dealers if d.id == wanted), None) or dealer_cards.dealer_card(wanted)
    elif args.get("step") != "dealer":
        st.dealer = _default_dealer(v, st.dealers)
    st.picking_dealer = st.dealer is None


def read(v: Visitor, args: Mapping[str, str], *, strict: bool = True) -> Steps:
    """The steps taken so far; `strict` (showing the page) also drops a day or time that is not free."""
    st = Steps(slug=v.account.slug, dealers=dealer_cards.active_dealers(v.account_id, limit=MAX_DEALERS))
    _pick_dealer(v, args, st)
    if st.dealer is None:
        return st
    st.services = booking_h5.services_of(st.dealer.id)
    wanted = _int(args.get("service"))
    st.service = next((s for s in st.services if s.id == wanted), None)
    if st.service is None:
        return st
    if st.service.is_test_drive:
        st.models = booking_h5.demo_models(st.dealer.id)
        model = args.get("model", "")
        st.model = model if model in st.models else (st.models[0] if len(st.models) == 1 else "")
        if not st.model:
            return st
    st.tz = booking_h5.rules_of(st.dealer.id).tz
    st.day = booking_h5.parse_day(args.get("day"))
    st.time = booking_h5.parse_time(args.get("time"))
    if not strict:
        return st
    try:
        st.cal = booking_h5.calendar(st.dealer.id, st.service.id, st.model or None)
    except DomainError:
        st.notice = gettext("This service cannot be booked online at the moment. Please call the dealer.")
        st.day = st.time = None
        return st
    if st.day is not None and not st.cal.slots_on(st.day):
        st.notice = gettext("There is no free time on that day any more. Please choose another day.")
        st.day = st.time = None
    if st.time is not None:
        st.slot = next((f for f in st.cal.slots_on(st.day) if f.local == st.time), None)
        if st.slot is None:
            st.notice = st.notice or gettext("That time is no longer free. Please choose another time.")
            st.time = None
    return st
