"""The analytics pages' request side: reading the period and dealer from the query string, the dashboard's
sections, and a figure translated for display (titles, column names and the x labels that are codes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from flask import abort
from flask_babel import gettext

from scrm.admin.forms import parse_int
from scrm.admin.helpers import SCENE_LABELS
from scrm.admin.views_bookings import KIND_LABELS as SERVICE_LABELS
from scrm.services import analytics_figures as figures
from scrm.services.analytics_common import VALUE_SEGMENT_LABELS, Figure, Period
from scrm.services.errors import Invalid
from scrm.services.keyword_admin import dealer_choices
from scrm.services.normalize_base import N_
from scrm.services.scope import Scope

DAY_CHOICES = (7, 30, 90, 365)
DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366

FigureFn = Callable[[Scope, Period], Figure]
# (key, function, which nightly step fills it): the order the dashboard shows them in
SECTIONS: tuple[tuple[str, FigureFn, str], ...] = (
    ("followers_over_time", figures.followers_over_time, "aggregates"),
    ("followers_by_scene", figures.followers_by_scene, "aggregates"),
    ("followers_by_staff", figures.followers_by_staff, "aggregates"),
    ("funnel", figures.funnel, "aggregates"),
    ("bookings_by_type", figures.bookings_by_type, "aggregates"),
    ("points", figures.points, "aggregates"),
    ("campaign_lift", figures.campaign_lift, "aggregates"),
    ("service_cohorts", figures.service_cohorts, "aggregates"),
    ("churn_distribution", figures.churn_distribution, "scores"),
    ("value_segments", figures.value_segments, "scores"),
)
FIGURES = {key: (fn, step) for key, fn, step in SECTIONS}
SEGMENT_VALUES = {k.value: v for k, v in VALUE_SEGMENT_LABELS.items()}


@dataclass(frozen=True)
class Picked:
    """The period and dealer a page looks at, and the query string that reproduces them."""

    period: Period
    query: dict[str, Any]
    days: int | None
    dealers: list[Any]


def _date(raw: str, field: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError as exc:
        raise Invalid(N_("Enter dates as YYYY-MM-DD."), field=field) from exc


def pick(scope: Scope, args: Any, today: date) -> Picked:
    """The period (?days= or ?from=&to=) and dealer (?dealer=, brand admins only); Invalid on bad dates."""
    dealers = dealer_choices(scope) if scope.all_dealers else []
    dealer = parse_int(args.get("dealer")) if scope.all_dealers and args.get("dealer") else None
    if dealer is not None and dealer not in {d.id for d in dealers}:
        abort(404)
    query: dict[str, Any] = {"dealer": dealer} if dealer else {}
    raw_from, raw_to = (args.get("from") or "").strip(), (args.get("to") or "").strip()
    if raw_from or raw_to:
        if not (raw_from and raw_to):
            raise Invalid(N_("Enter both a start and an end date."), field="from")
        start, end = _date(raw_from, "from"), _date(raw_to, "to")
        if end < start:
            raise Invalid(N_("The end date is before the start date."), field="to")
        if end > today:
            raise Invalid(N_("The end date is in the future."), field="to")
        if (end - start).days + 1 > MAX_DAYS:
            raise Invalid(N_("Choose at most 3 years."), field="from")
        query |= {"from": start.isoformat(), "to": end.isoformat()}
        return Picked(Period(start, end, dealer), query, None, dealers)
    days = parse_int(args.get("days")) if args.get("days") else DEFAULT_DAYS
    if days not in DAY_CHOICES:
        raise Invalid(N_("Choose 7, 30, 90 or 365 days."), field="days")
    query["days"] = days
    return Picked(Period.last_days(days, today, dealer), query, days, dealers)


def default(scope: Scope, today: date) -> Picked:
    """The default period (after bad input the page still shows something)."""
    dealers = dealer_choices(scope) if scope.all_dealers else []
    return Picked(Period.last_days(DEFAULT_DAYS, today), {"days": DEFAULT_DAYS}, DEFAULT_DAYS, dealers)


def _x(key: str, value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if key == "followers_by_scene":
        return str(SCENE_LABELS.get(str(value), value))
    if key == "value_segments":
        return gettext(SEGMENT_VALUES[value]) if value in SEGMENT_VALUES else value
    if key == "funnel":
        return gettext(str(value))
    return value


def _column(key: str, name: str) -> str:
    if key == "bookings_by_type" and name in SERVICE_LABELS:
        return str(SERVICE_LABELS[name])
    return gettext(name)


def display(fig: Figure) -> Figure:
    """A copy of the figure with its title, column names and coded x labels translated."""
    columns = [_column(fig.key, c) for c in fig.columns] if fig.translate_columns else \
        [gettext(fig.columns[0]), *fig.columns[1:]]
    rows = [[_x(fig.key, r[0]), *r[1:]] for r in fig.rows] if fig.rows else []
    return replace(fig, title=gettext(fig.title), columns=columns, rows=rows)


def csv_header(fig: Figure) -> list[str]:
    """The CSV header: translated column names."""
    return display(replace(fig, rows=[])).columns


def churn_bucket_range(i: int) -> tuple[int, int]:
    """The score range of histogram bucket i (0-9 ... 90-100)."""
    return i * 10, (100 if i >= 9 else i * 10 + 9)


def next_fill(today: date) -> date:
    """When the nightly run will next fill the figures (the night after today)."""
    return today + timedelta(days=1)
