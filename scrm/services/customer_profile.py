"""One customer seen whole (the 360 view): profile, vehicles, service history, follower binding,
and the timeline with the bound follower's messages merged in; plus staff notes and tag edits.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import (
    Channel,
    Customer,
    CustomerBinding,
    Delivery,
    DeliveryStatus,
    Direction,
    Follower,
    MessageLog,
    RepairOrder,
    StaffNote,
    StaffUser,
    TimelineEntry,
    Vehicle,
)
from scrm.services import audit
from scrm.services.customer_admin import show_phone
from scrm.services.errors import Forbidden
from scrm.services.normalize_base import N_
from scrm.services.paging import Page, paginate
from scrm.services.scope import Perm, Scope
from scrm.services.validation import Problems
from scrm.wechat.inbound import SYSTEM_EVENTS

EXPIRY_WARNING = timedelta(days=30)
REPAIR_ORDERS_SHOWN = 50
TIMELINE_PER_PAGE = 30
NOTE_MAX = 2000
TAGS_MAX, TAG_MAX_CHARS = 20, 20
_TAG_SPLIT = re.compile(r"[,，、;；\n]")

NOTE_TITLE = N_("Staff note")
MESSAGE_IN = N_("Message from the follower")
MESSAGE_OUT = N_("Sent to the follower")
PUSH_TITLE = N_("Push to the follower")
# how a push stands, as the timeline labels it
PUSH_STATUS = {"pending": N_("Waiting to be sent"), "sending": N_("Sending"), "sent": N_("Sent"),
               "delivered": N_("Delivered"), "failed": N_("Not delivered"), "unknown": N_("Outcome unknown"),
               "skipped": N_("Skipped"), "cancelled": N_("Cancelled")}


@dataclass(frozen=True)
class VehicleView:
    """A vehicle with its expiry states: 'expired', 'soon' (within 30 days), '' otherwise or unknown."""

    vehicle: Vehicle
    insurance_state: str
    warranty_state: str


@dataclass(frozen=True)
class BindingView:
    """A follower linked to the customer."""

    binding: CustomerBinding
    follower: Follower


@dataclass(frozen=True)
class Profile:
    """Everything on the 360 page but the timeline."""

    customer: Customer
    phone: str
    landline: str
    vehicles: list[VehicleView]
    repair_orders: list[tuple[RepairOrder, str]]
    repair_orders_total: int
    bindings: list[BindingView]


@dataclass(frozen=True)
class TimelineItem:
    """One line of the timeline; `title` is an English msgid (with `params`) translated on display."""

    at: datetime
    kind: str
    title: str
    text: str
    detail: dict[str, Any]


def get_customer(scope: Scope, customer_id: int) -> Customer:
    """A customer in scope, else NotFound."""
    return scope.get(db.session(), Customer, customer_id)


def today() -> date:
    """Today in the configured time zone (expiry dates are local dates)."""
    return db.utcnow().astimezone(runtime.get().settings.app.tz).date()


def expiry_state(day: date | None, now: date) -> str:
    """'expired' when past, 'soon' within 30 days, '' otherwise."""
    if day is None:
        return ""
    if day < now:
        return "expired"
    return "soon" if day - now <= EXPIRY_WARNING else ""


def profile(scope: Scope, customer: Customer) -> Profile:
    """The customer's profile, vehicles, latest repair orders and follower bindings."""
    s = db.session()
    now = today()
    vehicles = [VehicleView(v, expiry_state(v.insurance_expiry, now), expiry_state(v.warranty_expiry, now))
                for v in s.scalars(scope.apply(sa.select(Vehicle), Vehicle).where(
                    Vehicle.customer_id == customer.id).order_by(Vehicle.id))]
    plates = {v.vehicle.id: v.vehicle.plate or v.vehicle.vin or "" for v in vehicles}
    orders_stmt = scope.apply(sa.select(RepairOrder), RepairOrder).where(RepairOrder.customer_id == customer.id)
    total = s.scalar(sa.select(sa.func.count()).select_from(orders_stmt.subquery())) or 0
    orders = s.scalars(orders_stmt.order_by(RepairOrder.date.desc(), RepairOrder.id.desc()).limit(REPAIR_ORDERS_SHOWN))
    bindings = [BindingView(b, f) for b, f in s.execute(
        scope.apply(sa.select(CustomerBinding, Follower), CustomerBinding)
        .join(Follower, Follower.id == CustomerBinding.follower_id)
        .where(CustomerBinding.customer_id == customer.id).order_by(CustomerBinding.bound_at.desc()))]
    return Profile(customer=customer, phone=show_phone(scope, customer.mobile),
                   landline=show_phone(scope, customer.landline), vehicles=vehicles,
                   repair_orders=[(o, plates.get(o.vehicle_id or 0, "")) for o in orders],
                   repair_orders_total=int(total), bindings=bindings)


def timeline(scope: Scope, customer: Customer, page: int = 1) -> Page[TimelineItem]:
    """The customer's timeline, newest first, with the bound followers' messages merged in by time.

    The binding (in scope, made with the customer's consent) is what lets this dealer read the
    follower's messages, whichever dealer the follower first came through.
    """
    followers = sa.select(CustomerBinding.follower_id).where(
        CustomerBinding.customer_id == customer.id, scope.condition(CustomerBinding))
    entries = sa.select(sa.literal("t").label("src"), TimelineEntry.id.label("id"),
                        TimelineEntry.occurred_at.label("at")).where(
        TimelineEntry.customer_id == customer.id, scope.condition(TimelineEntry))
    messages = sa.select(sa.literal("m").label("src"), MessageLog.id.label("id"),
                         MessageLog.created_at.label("at")).where(
        MessageLog.account_id == customer.account_id, MessageLog.follower_id.in_(followers),
        # WeChat's reports on a send are not the follower's words: the push shows its delivery state instead
        MessageLog.event.not_in(SYSTEM_EVENTS))
    # pushes (customer-service, template and mass messages) to the bound followers: this dealer's and the brand's
    pushes = sa.select(sa.literal("d").label("src"), Delivery.id.label("id"), Delivery.created_at.label("at")).where(
        Delivery.account_id == customer.account_id, Delivery.follower_id.in_(followers),
        sa.or_(Delivery.dealer_id == customer.dealer_id, Delivery.dealer_id.is_(None)))
    merged = sa.union_all(entries, messages, pushes).subquery()
    stmt = sa.select(merged.c.src, merged.c.id).order_by(merged.c.at.desc(), merged.c.src, merged.c.id.desc())
    keys = paginate(db.session(), stmt, page, TIMELINE_PER_PAGE)
    wanted = {src: [row.id for row in keys.items if row.src == src] for src in ("t", "m", "d")}
    loaded: dict[tuple[str, int], TimelineItem] = {}
    for e in db.session.scalars(sa.select(TimelineEntry).where(TimelineEntry.id.in_(wanted["t"]))):
        text = str(e.detail.get("text", "")) if e.kind in ("note", "merge") else ""
        loaded[("t", e.id)] = TimelineItem(e.occurred_at, e.kind, e.title, text, dict(e.detail))
    for m in db.session.scalars(sa.select(MessageLog).where(MessageLog.id.in_(wanted["m"]))):
        inbound = m.direction == Direction.IN
        loaded[("m", m.id)] = TimelineItem(
            m.created_at, "message.in" if inbound else "message.out", MESSAGE_IN if inbound else MESSAGE_OUT,
            m.content, {"msg_type": m.msg_type, "event": m.event})
    for d in db.session.scalars(sa.select(Delivery).where(Delivery.id.in_(wanted["d"]))):
        loaded[("d", d.id)] = TimelineItem(
            d.created_at, "push", PUSH_TITLE, push_text(d.payload),
            {"status": DeliveryStatus(d.status).value, "purpose": d.purpose, "error": d.error,
             "channel": d.channel_used or Channel(d.channel).value})
    items = [loaded[(row.src, row.id)] for row in keys.items if (row.src, row.id) in loaded]
    return Page(items=items, page=keys.page, per_page=keys.per_page, total=keys.total)


def push_text(payload: dict[str, Any]) -> str:
    """What a push says, from its WeChat payload: the text, the news titles or the template's values."""
    for channel in ("custom", "template"):  # Channel.AUTO carries both forms
        if isinstance(payload.get(channel), dict):
            return push_text(payload[channel])
    body = payload.get("text")
    if isinstance(body, dict):
        return str(body.get("content", ""))
    news = payload.get("news")
    articles = news.get("articles") if isinstance(news, dict) else None
    if isinstance(articles, list):
        return " / ".join(str(a.get("title", "")) for a in articles if isinstance(a, dict))
    data = payload.get("data")
    if isinstance(data, dict):
        return "\n".join(str(v.get("value", "")) for v in data.values() if isinstance(v, dict) and v.get("value"))
    return ""


def add_note(actor: StaffUser, customer_id: int, text: str, ip: str = "") -> StaffNote:
    """Write a staff note about a customer: a StaffNote, a timeline entry and an audit row."""
    scope = Scope.of(actor)
    customer = get_customer(scope, customer_id)
    text = text.replace("\r\n", "\n").strip()
    p = Problems()
    if customer.erased_at is not None or customer.merged_into_id is not None:
        p.add("text", "This record can no longer be changed: it was erased or merged into another one.")
    elif not text:
        p.add("text", "Write the note first.")
    elif len(text) > NOTE_MAX:
        p.add("text", "A note has at most %(max)s characters; this one has %(length)s.", max=NOTE_MAX,
              length=len(text))
    elif any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        p.add("text", "The note contains invisible control characters.")
    p.raise_if_any()
    now = db.utcnow()
    with db.transaction() as s:
        note = StaffNote(account_id=customer.account_id, dealer_id=customer.dealer_id, customer_id=customer.id,
                         staff_id=actor.id, text=text, created_at=now)
        s.add(note)
        s.flush()
        s.add(TimelineEntry(account_id=customer.account_id, dealer_id=customer.dealer_id, customer_id=customer.id,
                            kind="note", title=NOTE_TITLE, occurred_at=now, created_at=now,
                            detail={"note_id": note.id, "text": text,
                                    "staff": actor.display_name or actor.username}))
        audit.record(s, staff=actor, action="customer.note", target_type="customer", target_id=customer.id,
                     detail={"note_id": note.id, "text": text}, ip=ip, dealer_id=customer.dealer_id)
    return note


def parse_tags(raw: str) -> list[str]:
    """Tags from a comma list (，、; too): trimmed, NFKC-folded, duplicates dropped; FormInvalid if bad."""
    p = Problems()
    tags: list[str] = []
    seen: set[str] = set()
    for part in _TAG_SPLIT.split(raw):
        tag = " ".join(unicodedata.normalize("NFKC", part).split())
        if not tag:
            continue
        if any(unicodedata.category(c).startswith("C") for c in tag):
            p.add("tags", "The tag “%(tag)s” contains invisible control characters.", tag=tag[:TAG_MAX_CHARS])
        elif len(tag) > TAG_MAX_CHARS:
            p.add("tags", "The tag “%(tag)s” is longer than %(max)s characters.", tag=tag, max=TAG_MAX_CHARS)
        elif tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        p.add("tags", "At most %(max)s tags per customer; this list has %(count)s.", max=TAGS_MAX, count=len(tags))
    p.raise_if_any()
    return tags


def set_tags(actor: StaffUser, customer_id: int, raw: str, ip: str = "") -> list[str]:
    """Replace a customer's tags (managers and brand admins); audited when they change."""
    scope = Scope.of(actor)
    customer = get_customer(scope, customer_id)
    if not scope.can(Perm.CUSTOMER_TAGS):
        raise Forbidden()
    if customer.erased_at is not None or customer.merged_into_id is not None:
        p = Problems()
        p.add("tags", "This record can no longer be changed: it was erased or merged into another one.")
        p.raise_if_any()
    tags = parse_tags(raw)
    before = list(customer.tags or [])
    if tags == before:
        return tags
    with db.transaction() as s:
        customer.tags = tags
        customer.updated_at = db.utcnow()
        audit.record(s, staff=actor, action="customer.tags", target_type="customer", target_id=customer.id,
                     detail={"before": before, "after": tags}, ip=ip, dealer_id=customer.dealer_id)
    return tags
