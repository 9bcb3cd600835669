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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

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


SERVICE_CHOICES = ("6m", "12m", "never")  # no service for over 6 / 12 months, or none on record


@dataclass(frozen=True)
class CustomerFilter:
    """`bound`: True/False/None (all); `dealer` only narrows a brand admin's view; `model` is exact;
    `tags` matches any of them; `service` is one of SERVICE_CHOICES (or "" for all)."""

    q: str = ""
    stage: str = ""
    bound: bool | None = None
    model: str = ""
    dealer: int | None = None
    tags: tuple[str, ...] = ()
    service: str = ""


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
            if any(c.isascii() and c.isalnum() for c in compact):
                return Search("plate", compact.upper())
            # 苏强, 云飞: a surname that is also a province abbreviation, not a plate
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
    if search.kind == "mobile_last4":  # mobiles are stored as 11 digits: the same expression as the index
        return sa.func.substr(Customer.mobile, 8, 4) == search.value
    if search.kind == "landline":
        return Customer.landline == search.value
    # lower(name) LIKE 'prefix%' is what the (scope, lower(name) text_pattern_ops) index serves
    return sa.func.lower(Customer.name).like(_escape_like(search.value.lower()) + "%", escape="\\")


def _tags_condition(tags: tuple[str, ...]) -> sa.ColumnElement[bool]:
    """Any of `tags` in the customer's JSON tag list (jsonb ?| on PostgreSQL, json_each elsewhere)."""
    if db.is_postgres():
        return sa.cast(Customer.tags, JSONB).op("?|")(sa.cast(sa.literal(list(tags)), ARRAY(sa.Text)))
    each = sa.func.json_each(Customer.tags).table_valued("value")
    return sa.exists(sa.select(sa.literal(1)).select_from(each).where(each.c.value.in_(tags)))


def _service_condition(service: str, today: date) -> sa.ColumnElement[bool]:
    """Never serviced, or serviced before but not in the last 6 / 12 months."""
    def serviced(since: date | None) -> sa.ColumnElement[bool]:
        orders = sa.select(RepairOrder.id).where(RepairOrder.customer_id == Customer.id)
        cars = sa.select(Vehicle.id).where(Vehicle.customer_id == Customer.id, Vehicle.last_service_date.is_not(None))
        if since is not None:
            orders = orders.where(RepairOrder.date >= since)
            cars = cars.where(Vehicle.last_service_date >= since)
        return sa.or_(sa.exists(orders), sa.exists(cars))

    if service == "never":
        return ~serviced(None)
    months = 6 if service == "6m" else 12
    return sa.and_(serviced(None), ~serviced(today - timedelta(days=months * 365 // 12)))


def list_statement(scope: Scope, flt: CustomerFilter, after: Cursor | None,
                   limit: int) -> sa.Select[Customer]:
    """The keyset query behind the list and the export: in scope, not merged or erased, filtered."""
    stmt = scope.apply(sa.select(Customer), Customer).where(Customer.merged_into_id.is_(None),
                                                            Customer.erased_at.is_(None))
    search = understand(flt.q)
    if search is not None:
        stmt = stmt.where(_search_condition(scope, search))
    if flt.stage in {s.value for s in Stage}:
        stmt = stmt.where(Customer.stage == Stage(flt.stage))
    if flt.bound is not None:
        bound = sa.exists(sa.select(CustomerBinding.id).where(CustomerBinding.customer_id == Customer.id))
        stmt = stmt.where(bound if flt.bound else ~bound)
    if flt.model:  # with the scope, the planner may start from (scope, model) for a rare model
        owners = sa.select(Vehicle.customer_id).where(scope.condition(Vehicle), Vehicle.model == flt.model)
        stmt = stmt.where(Customer.id.in_(owners))
    if flt.tags:
        stmt = stmt.where(_tags_condition(flt.tags))
    if flt.service in SERVICE_CHOICES:
        stmt = stmt.where(_service_condition(flt.service, db.utcnow().date()))
    if flt.dealer is not None:
        stmt = stmt.where(Customer.dealer_id == flt.dealer)
    if after is not None:
        stmt = stmt.where(sa.or_(Customer.updated_at < after.updated_at,
                                 sa.and_(Customer.updated_at == after.updated_at, Customer.id < after.id)))
    newest: sa.ColumnElement[datetime] = Customer.updated_at.expression
    if search is not None and search.kind == "name" and len(search.value) > 1:
        # PostgreSQL guesses ~1% of rows match any name prefix, so it would walk the (scope, updated_at) index
        # through a million rows for a rare name. Two characters or more match few customers: hiding that
        # index behind coalesce() makes it fetch them by (scope, lower(name)) and sort the few it finds.
        newest = sa.func.coalesce(Customer.updated_at, Customer.updated_at)
    return stmt.order_by(newest.desc(), Customer.id.desc()).limit(limit)


def list_customers(scope: Scope, flt: CustomerFilter, after: Cursor | None = None,
                   per_page: int = PER_PAGE) -> CustomerPage:
    """Customers in scope matching `flt`, newest change first, one keyset page after `after`."""
    search = understand(flt.q)
    customers = list(db.session.scalars(list_statement(scope, flt, after, per_page + 1)))
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
    """Vehicle models on the books in scope, for the filter (alphabetical, at most 200).

    A loose index scan: each step asks the (scope, model) index for the next model after the last one, so
    a dozen models cost a dozen index probes instead of a DISTINCT over every vehicle of the account.
    """
    first = scope.apply(sa.select(sa.func.min(Vehicle.model)), Vehicle).scalar_subquery()
    models = sa.select(first.label("model")).cte("models", recursive=True)
    following = scope.apply(sa.select(sa.func.min(Vehicle.model)), Vehicle).where(
        Vehicle.model > models.c.model).scalar_subquery()
    models = models.union_all(sa.select(following).where(models.c.model.is_not(None)))
    stmt = sa.select(models.c.model).where(models.c.model.is_not(None)).limit(MODEL_CHOICES_MAX)
    return [m for m in db.session.scalars(stmt) if m]
