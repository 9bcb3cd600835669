"""The customer list as staff see it: one search box, filters, keyset pages, masked phone numbers.

Search understands what was typed: a licence plate or a VIN (exact, normalised), an 11-digit mobile
(exact) or its last 4 digits, a landline, else the start of a name. Pages are keyset pages ordered by
(updated_at, id) newest first, so a page deep into a million customers costs the same as the first.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from scrm import db
from scrm.models import Customer, CustomerBinding, Dealer, Follower, RepairOrder, Stage, Vehicle
from scrm.security import mask_phone
from scrm.services import normalize
from scrm.services.normalize_base import clean_text
from scrm.services.scope import Perm, Scope

PER_PAGE = 50
MODEL_CHOICES_MAX = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"(-?\d{1,19})\.(\d{1,19})")
_DIGITS_ONLY = re.compile(r"[\d\s\-+()]+")
_VIN_LIKE = re.compile(r"[A-Za-z0-9]{17}")


@dataclass(frozen=True)
class CustomerFilter:
    """`bound`: True/False/None (all); `dealer` only narrows a brand admin's view; `model` is exact."""

    q: str = ""
    stage: str = ""
    bound: bool | None = None
    model: str = ""
    dealer: int | None = None


@dataclass(frozen=True)
class Search:
    """How the search box was understood: `kind` is name, mobile, mobile_last4, landline, plate or vin."""

    kind: str
    value: str


@dataclass(frozen=True)
class Cursor:
    """A position in the list: the (updated_at, id) of the last row shown."""

    updated_at: datetime
    id: int

    def encode(self) -> str:
        """`<microseconds since 1970>.<id>`: short, opaque enough, exact."""
        return f"{(self.updated_at - _EPOCH) // timedelta(microseconds=1)}.{self.id}"

    @classmethod
    def decode(cls, raw: str | None) -> Cursor | None:
        """The cursor from a query string; None (the first page) for anything malformed."""
        m = _CURSOR.fullmatch((raw or "").strip())
        if not m:
            return None
        try:
            return cls(_EPOCH + timedelta(microseconds=int(m.group(1))), int(m.group(2)))
        except OverflowError:
            return None


@dataclass(frozen=True)
class CustomerRow:
    """One line of the list, with everything the table shows already worked out."""

    customer: Customer
    phone: str
    plates: list[str]
    models: list[str]
    bound: bool
    following: bool
    last_service: date | None
    dealer_name: str


@dataclass(frozen=True)
class CustomerPage:
    """One keyset page: `next_cursor` is None on the last page."""

    rows: list[CustomerRow]
    search: Search | None
    next_cursor: str | None = None
    first: bool = True
    stages: list[str] = field(default_factory=lambda: [s.value for s in Stage])


def show_phone(scope: Scope, value: str | None) -> str:
    """A phone number as this user may see it: whole for managers and brand admins, else 138****5678."""
    if not value:
        return ""
    return value if scope.can(Perm.CUSTOMER_PHONES) else mask_phone(value)


def understand(q: str) -> Search | None:
    """Classify the search box text (None when empty)."""
    text = clean_text(q[:64]) or ""
    if not text:
        return None
    compact = "".join(text.split())
    if compact[0] in normalize.PROVINCES:
        try:
            return Search("plate", normalize.plate(compact) or compact)
        except normalize.FieldError:
            return Search("plate", compact.upper())
    if _DIGITS_ONLY.fullmatch(text):
        digits = re.sub(r"\D", "", text)
        if len(digits) == 4:
            return Search("mobile_last4", digits)
        try:
            number = normalize.phone(text)
        except normalize.FieldError:
            number = None
        if number is not None:
            return Search("mobile" if number.kind == "mobile" else "landline", number.value)
        return Search("mobile", digits)  # not a valid number: matches nothing, says what was tried
    if _VIN_LIKE.fullmatch(compact) and any(c.isdigit() for c in compact):
        try:
            return Search("vin", normalize.vin(compact) or compact.upper())
        except normalize.FieldError:
            return Search("vin", compact.upper())
    return Search("name", text)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search_condition(scope: Scope, search: Search) -> sa.ColumnElement[bool]:
    if search.kind in ("plate", "vin"):
        column = Vehicle.plate if search.kind == "plate" else Vehicle.vin
        owners = sa.select(Vehicle.customer_id).where(scope.condition(Vehicle), column == search.value)
        return Customer.id.in_(owners)
    if search.kind == "mobile":
        return Customer.mobile == search.value
    if search.kind == "mobile_last4":
        return Customer.mobile.like(f"%{search.value}")
    if search.kind == "landline":
        return Customer.landline == search.value
    return Customer.name.ilike(_escape_like(search.value) + "%", escape="\\")


def list_customers(scope: Scope, flt: CustomerFilter, after: Cursor | None = None,
                   per_page: int = PER_PAGE) -> CustomerPage:
    """Customers in scope matching `flt`, newest change first, one keyset page after `after`."""
    stmt = scope.apply(sa.select(Customer), Customer).where(Customer.merged_into_id.is_(None))
    search = understand(flt.q)
    if search is not None:
        stmt = stmt.where(_search_condition(scope, search))
    if flt.stage in {s.value for s in Stage}:
        stmt = stmt.where(Customer.stage == Stage(flt.stage))
    if flt.bound is not None:
        bound = sa.exists(sa.select(CustomerBinding.id).where(CustomerBinding.customer_id == Customer.id))
        stmt = stmt.where(bound if flt.bound else ~bound)
    if flt.model:
        owners = sa.select(Vehicle.customer_id).where(scope.condition(Vehicle), Vehicle.model == flt.model)
        stmt = stmt.where(Customer.id.in_(owners))
    if flt.dealer is not None:
        stmt = stmt.where(Customer.dealer_id == flt.dealer)
    if after is not None:
        stmt = stmt.where(sa.or_(Customer.updated_at < after.updated_at,
                                 sa.and_(Customer.updated_at == after.updated_at, Customer.id < after.id)))
    stmt = stmt.order_by(Customer.updated_at.desc(), Customer.id.desc()).limit(per_page + 1)
    customers = list(db.session.scalars(stmt))
    more = len(customers) > per_page
    customers = customers[:per_page]
    next_cursor = Cursor(customers[-1].updated_at, customers[-1].id).encode() if more else None
    return CustomerPage(rows=_rows(scope, customers), search=search, next_cursor=next_cursor, first=after is None)


def _rows(scope: Scope, customers: list[Customer]) -> list[CustomerRow]:
    """Vehicles, bindings and last service for a page of customers: three queries, not 3 × 50."""
    ids = [c.id for c in customers]
    plates: dict[int, list[str]] = defaultdict(list)
    models: dict[int, list[str]] = defaultdict(list)
    last: dict[int, date] = {}
    for v in db.session.scalars(sa.select(Vehicle).where(Vehicle.customer_id.in_(ids)).order_by(Vehicle.id)):
        if v.plate:
            plates[v.customer_id].append(v.plate)
        if v.model and v.model not in models[v.customer_id]:
            models[v.customer_id].append(v.model)
        if v.last_service_date and (v.customer_id not in last or v.last_service_date > last[v.customer_id]):
            last[v.customer_id] = v.last_service_date
    orders = sa.select(RepairOrder.customer_id, sa.func.max(RepairOrder.date)).where(
        RepairOrder.customer_id.in_(ids)).group_by(RepairOrder.customer_id)
    for customer_id, day in db.session.execute(orders):
        if day is not None and (customer_id not in last or day > last[customer_id]):
            last[customer_id] = day
    following: dict[int, bool] = {}
    bindings = sa.select(CustomerBinding.customer_id, Follower.subscribed).join(
        Follower, Follower.id == CustomerBinding.follower_id).where(CustomerBinding.customer_id.in_(ids))
    for customer_id, subscribed in db.session.execute(bindings):
        following[customer_id] = following.get(customer_id, False) or bool(subscribed)
    names: dict[int, str] = {}
    if scope.all_dealers and customers:
        dealers = sa.select(Dealer.id, Dealer.name).where(Dealer.id.in_({c.dealer_id for c in customers}))
        names = {dealer_id: name for dealer_id, name in db.session.execute(dealers)}
    return [CustomerRow(customer=c, phone=show_phone(scope, c.mobile or c.landline), plates=plates[c.id],
                        models=models[c.id], bound=c.id in following, following=following.get(c.id, False),
                        last_service=last.get(c.id), dealer_name=names.get(c.dealer_id, ""))
            for c in customers]


def model_choices(scope: Scope) -> list[str]:
    """Vehicle models on the books in scope, for the filter (alphabetical, at most 200)."""
    stmt = scope.apply(sa.select(Vehicle.model).distinct(), Vehicle).where(Vehicle.model.is_not(None))
    return [m for m in db.session.scalars(stmt.order_by(Vehicle.model).limit(MODEL_CHOICES_MAX)) if m]
