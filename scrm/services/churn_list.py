"""The churn risk drill-down: scored customers by churn score, highest first, with the reasons in words,
filters, a CSV export and a one-click follow-up task.

The query walks ix_customer_scores_dealer_band (dealer_id, churn_band, churn_score) for a dealer's list,
so the first page stays quick with a million scored customers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from scrm import db
from scrm.models import (
    ChurnBand,
    ChurnReason,
    Customer,
    CustomerBinding,
    CustomerScore,
    LeadScore,
    StaffUser,
    Task,
    TaskRule,
    TaskStatus,
    ValueSegment,
    Vehicle,
)
from scrm.services import audit, tasks
from scrm.services.analytics_common import CHURN_BAND_LABELS, TASK_RULE_LABELS, VALUE_SEGMENT_LABELS
from scrm.services.customer_admin import show_phone
from scrm.services.errors import Forbidden
from scrm.services.normalize_base import N_
from scrm.services.paging import Page, paginate
from scrm.services.scope import Perm, Scope

EXPORT_CAP = 50_000
TASK_DUE_DAYS = 2
Words = tuple[str, dict[str, Any]]          # a msgid and its parameters, translated where shown


@dataclass(frozen=True)
class ChurnFilter:
    """What the list is narrowed to (all optional)."""

    band: ChurnBand | None = None
    reason: int = 0                          # one ChurnReason bit
    segment: ValueSegment | None = None
    min_score: int | None = None
    max_score: int | None = None
    q: str = ""                              # the start of a name, or a plate
    dealer: int | None = None                # a brand admin's pick


@dataclass(frozen=True)
class ChurnRow:
    """One customer on the list."""

    score: CustomerScore
    customer: Customer
    phone: str
    reasons: list[Words] = field(default_factory=list)
    task_open: bool = False


def reason_words(sc: CustomerScore) -> list[Words]:
    """The churn reasons of a score, each with the figures behind it (msgid, params)."""
    out: list[Words] = []
    bits = sc.churn_reasons or 0
    if bits & ChurnReason.OVERDUE:
        if sc.expected_interval_days:
            out.append((N_("Service overdue by %(days)s days (usually every %(interval)s days)"),
                        {"days": sc.overdue_days or 0, "interval": sc.expected_interval_days}))
        else:
            out.append((N_("Service overdue by %(days)s days"), {"days": sc.overdue_days or 0}))
    if bits & ChurnReason.FALLING:
        out.append((N_("%(recent)s visits in the last 12 months, %(before)s in the 12 months before"),
                    {"recent": sc.visits_last_12m, "before": sc.visits_prev_12m}))
    if bits & ChurnReason.WARRANTY:
        out.append((N_("Warranty ends %(date)s"), {"date": sc.warranty_expiry.isoformat() if sc.warranty_expiry
                                                     else "—"}))
    if bits & ChurnReason.LOW_RATING:
        out.append((N_("Satisfaction answer %(n)s of 5"), {"n": sc.low_rating if sc.low_rating is not None else "—"}))
    if bits & ChurnReason.IGNORED:
        out.append((N_("%(n)s pushes unread"), {"n": sc.ignored_pushes}))
    if bits & ChurnReason.UNFOLLOWED:
        out.append((N_("Unfollowed the account"), {}))
    return out


def _dealer_of(scope: Scope, flt: ChurnFilter) -> int | None:
    return flt.dealer if scope.all_dealers else scope.dealer_id


def query(scope: Scope, flt: ChurnFilter) -> sa.Select[CustomerScore, Customer]:
    """Scored customers in scope matching the filter, by churn score desc."""
    stmt = (sa.select(CustomerScore, Customer).join(Customer, Customer.id == CustomerScore.customer_id)
            .where(scope.condition(CustomerScore), Customer.merged_into_id.is_(None), Customer.erased_at.is_(None)))
    dealer = _dealer_of(scope, flt)
    if dealer is not None:
        stmt = stmt.where(CustomerScore.dealer_id == dealer)
    if flt.band is not None:
        stmt = stmt.where(CustomerScore.churn_band == flt.band)
    if flt.reason:
        stmt = stmt.where(CustomerScore.churn_reasons.op("&")(flt.reason) != 0)
    if flt.segment is not None:
        stmt = stmt.where(CustomerScore.value_segment == flt.segment)
    if flt.min_score is not None:
        stmt = stmt.where(CustomerScore.churn_score >= flt.min_score)
    if flt.max_score is not None:
        stmt = stmt.where(CustomerScore.churn_score <= flt.max_score)
    q = flt.q.strip()
    if q:
        like = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        plate = q.upper().replace(" ", "")
        plates = sa.select(Vehicle.customer_id).where(scope.condition(Vehicle), Vehicle.plate == plate)
        stmt = stmt.where(sa.or_(sa.func.lower(Customer.name).like(like, escape="\\"), Customer.id.in_(plates)))
    return stmt.order_by(CustomerScore.churn_score.desc(), CustomerScore.customer_id)


def _open_task_customers(ids: list[int]) -> set[int]:
    if not ids:
        return set()
    return set(db.session.scalars(sa.select(Task.customer_id).where(
        Task.customer_id.in_(ids), Task.status == TaskStatus.OPEN)))


def list_page(scope: Scope, flt: ChurnFilter, page: int, per_page: int = 50) -> Page[ChurnRow]:
    """One page of the list, with phones as this user may see them and open follow-ups marked."""
    stmt: sa.Select[Any] = query(scope, flt)  # type: ignore[assignment]
    raw = paginate(db.session(), stmt, page, per_page)
    open_ids = _open_task_customers([c.id for _, c in raw.items])
    rows = [ChurnRow(score=sc, customer=c, phone=show_phone(scope, c.mobile or c.landline),
                     reasons=reason_words(sc), task_open=c.id in open_ids) for sc, c in raw.items]
    return Page(items=rows, page=raw.page, per_page=raw.per_page, total=raw.total)


def export_csv(scope: Scope, flt: ChurnFilter, gettext: Callable[..., str]) -> Iterator[str]:
    """The filtered list as CSV text chunks (BOM first, header translated, phones as the user may see them)."""
    yield "\ufeff"
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([gettext(h) for h in (N_("Customer"), N_("Phone"), N_("Churn score"), N_("Risk"),
                                          N_("Reasons"), N_("Value segment"), N_("Last visit"))])
    rows = db.session.execute(query(scope, flt).limit(EXPORT_CAP))
    for n, (sc, c) in enumerate(rows, 1):
        words = "；".join(gettext(m, **p) if p else gettext(m) for m, p in reason_words(sc))
        writer.writerow([c.name or "", show_phone(scope, c.mobile or c.landline), sc.churn_score,
                         gettext(CHURN_BAND_LABELS[ChurnBand(sc.churn_band)]), words,
                         gettext(VALUE_SEGMENT_LABELS[ValueSegment(sc.value_segment)]),
                         sc.last_visit_on.isoformat() if sc.last_visit_on else ""])
        if n % 500 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def dedupe_key(customer_id: int, today: date) -> str:
    """The key that makes one manual churn follow-up per customer per day."""
    return f"churn_risk:manual:{customer_id}:{today.isoformat()}"


def create_task(staff: StaffUser, customer_id: int, today: date, ip: str = "") -> bool:
    """Make a churn follow-up task for a scored customer; False when an open one exists already."""
    scope = Scope.of(staff)
    if not scope.can(Perm.ANALYTICS_VIEW):
        raise Forbidden()
    with db.transaction() as s:
        customer = scope.get(s, Customer, customer_id)
        sc = s.scalar(sa.select(CustomerScore).where(CustomerScore.customer_id == customer.id))
        if s.scalar(sa.select(Task.id).where(Task.customer_id == customer.id, Task.status == TaskStatus.OPEN)
                    .limit(1)) is not None:
            return False
        task_id = tasks.create(s, tasks.NewTask(
            account_id=customer.account_id, dealer_id=customer.dealer_id, rule=TaskRule.CHURN_RISK,
            dedupe_key=dedupe_key(customer.id, today), title=TASK_RULE_LABELS[TaskRule.CHURN_RISK],
            due_on=today + timedelta(days=TASK_DUE_DAYS), customer_id=customer.id, created_by=staff.id,
            detail={"churn_score": sc.churn_score if sc else None, "churn_reasons": sc.churn_reasons if sc else 0,
                    "source": "churn_list"}))
        if task_id is None:
            return False
        audit.record(s, staff=staff, action="task.create", target_type="task", target_id=task_id, ip=ip,
                     dealer_id=customer.dealer_id, detail={"customer_id": customer.id, "rule": "churn_risk"})
    return True


@dataclass(frozen=True)
class CustomerAnalytics:
    """What the customer 360 page shows about a customer's scores."""

    score: CustomerScore | None
    reasons: list[Words]
    lead: LeadScore | None
    lead_parts: list[dict[str, Any]]


def customer_analytics(scope: Scope, customer_id: int) -> CustomerAnalytics:
    """The customer's value and churn scores, and the best lead score of a bound follower (scoped)."""
    s = db.session()
    customer = scope.get(s, Customer, customer_id)
    sc = s.scalar(sa.select(CustomerScore).where(CustomerScore.customer_id == customer.id,
                                                 scope.condition(CustomerScore)))
    followers = sa.select(CustomerBinding.follower_id).where(CustomerBinding.customer_id == customer.id)
    lead = s.scalar(sa.select(LeadScore).where(
        LeadScore.account_id == scope.account_id,
        sa.or_(LeadScore.customer_id == customer.id, LeadScore.follower_id.in_(followers)))
        .order_by(LeadScore.score.desc(), LeadScore.id).limit(1))
    parts = sorted((p for p in (lead.parts if lead else []) if isinstance(p, dict)),
                   key=lambda p: -int(p.get("points") or 0))[:3]
    return CustomerAnalytics(score=sc, reasons=reason_words(sc) if sc else [], lead=lead, lead_parts=parts)
