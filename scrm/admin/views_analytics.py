"""Analytics pages: the dashboard with its charts and CSV exports, the churn risk list with its follow-up
action, and the analytics panel of the customer 360 page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse

from scrm import db
from scrm.admin import analytics_display as show
from scrm.admin import charts, nav
from scrm.admin.auth import client_ip, require_perm
from scrm.admin.forms import parse_int
from scrm.admin.helpers import flash_domain_error, http_for, localtime
from scrm.admin.scoping import current_scope, current_staff
from scrm.models import ChurnBand, ChurnReason, ValueSegment
from scrm.services import analytics_nightly
from scrm.services import churn_list as churn
from scrm.services.analytics_common import (
    CHURN_BAND_LABELS,
    CHURN_HIGH,
    CHURN_MEDIUM,
    CHURN_REASON_LABELS,
    VALUE_SEGMENT_LABELS,
    Figure,
)
from scrm.services.customer_profile import today
from scrm.services.errors import DomainError, Invalid, NotFound
from scrm.services.keyword_admin import dealer_choices
from scrm.services.paging import clamp_page
from scrm.services.scope import Perm

bp = Blueprint("analytics", __name__, url_prefix="/analytics")
nav.add_group("analytics", "Analytics", 22)
nav.add_item(nav.NavItem("analytics", "admin.analytics.index", "Dashboards", order=10, perm=Perm.ANALYTICS_VIEW,
                         active_prefixes=("admin.analytics.index", "admin.analytics.figure_csv")))
nav.add_item(nav.NavItem("analytics", "admin.analytics.churn", "Churn risk", order=20, perm=Perm.ANALYTICS_VIEW,
                         active_prefixes=("admin.analytics.churn",)))

WIDE = 860          # the viewBox width of a chart in a full-width card
BAND_BADGES = {"low": "badge-green", "medium": "badge-amber", "high": "badge-red"}


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {"BAND_LABELS": {k.value: v for k, v in CHURN_BAND_LABELS.items()}, "BAND_BADGES": BAND_BADGES,
            "SEGMENT_LABELS": {k.value: v for k, v in VALUE_SEGMENT_LABELS.items()},
            "REASON_LABELS": {int(k): v for k, v in CHURN_REASON_LABELS.items()}}


@bp.app_template_global("customer_analytics")
def customer_analytics(customer_id: int) -> churn.CustomerAnalytics | None:
    """For the customer 360 page: scores of the customer (None for roles without analytics)."""
    scope = current_scope()
    if not scope.can(Perm.ANALYTICS_VIEW):
        return None
    try:
        return churn.customer_analytics(scope, customer_id)
    except NotFound:
        return None


@bp.app_template_global("analytics_badges")
def analytics_badges() -> dict[str, Any]:
    """Band badges and labels for templates outside this blueprint (the customer panel)."""
    return {**_labels(), "CHURN_REASONS": ChurnReason}


def _as_of(step: str) -> str:
    run = analytics_nightly.last_run(db.session(), current_scope().account_id, step)
    return localtime(run.finished_at) if run and run.finished_at else ""


def _bucket_colour(i: int) -> str:
    return "#c6352b" if i * 10 >= CHURN_HIGH else "#a86400" if i * 10 >= CHURN_MEDIUM else "#1a8f55"


def _chart(fig: Figure, empty_text: str, query: dict[str, Any]) -> Markup:
    if fig.key == "churn_distribution":
        def href(i: int, row: list[Any]) -> str:
            lo, hi = show.churn_bucket_range(i)
            return url_for(".churn", min=lo, max=hi, dealer=query.get("dealer") or None)
        return charts.histogram(fig, empty_text, href, _bucket_colour)
    if fig.key in ("followers_over_time", "points"):   # wide on a desktop, the phone-sized drawing below 760px
        return Markup('<div class="an-only-wide">{}</div><div class="an-only-narrow">{}</div>').format(
            charts.line(fig, empty_text, width=WIDE), charts.line(fig, empty_text))
    if fig.key == "campaign_lift":
        return Markup('<div class="an-only-wide">{}</div><div class="an-only-narrow">{}</div>').format(
            charts.interval(fig, empty_text, label=lambda r: f"{r[0]} · {r[1]}", width=WIDE),
            charts.interval(fig, empty_text, label=lambda r: f"{r[0]} · {r[1]}"))
    return charts.render(fig, empty_text)


@bp.get("/")
@require_perm(Perm.ANALYTICS_VIEW)
def index() -> Any:
    """The dashboard: every figure of the period as a chart or table, each with a CSV link."""
    scope, now = current_scope(), today()
    status, error = 200, ""
    try:
        picked = show.pick(scope, request.args, now)
    except Invalid as exc:
        picked, status, error = show.default(scope, now), 400, gettext(exc.message)
    as_of = {"aggregates": _as_of("aggregates"), "scores": _as_of("scores")}
    empty_text = gettext("No figures yet: the nightly run fills them after 02:15 (next run: %(day)s).",
                         day=show.next_fill(now).isoformat())
    sections = []
    for key, fn, step in show.SECTIONS:
        try:
            fig = show.display(fn(scope, picked.period))
        except NotImplementedError:
            fig = Figure(key=key, title=key, kind="table", columns=[])
        sections.append({"key": key, "fig": fig, "chart": _chart(fig, empty_text, picked.query),
                         "as_of": as_of[step]})
    return render_template("admin/analytics/index.html", sections=sections, picked=picked, error=error,
                           empty_text=empty_text, day_choices=show.DAY_CHOICES, args=request.args), status


@bp.get("/figure/<key>.csv")
@require_perm(Perm.ANALYTICS_VIEW)
def figure_csv(key: str) -> Response:
    """One figure as CSV: UTF-8 with a BOM (Excel opens Chinese), translated header, key and dates in the name."""
    if key not in show.FIGURES:
        http_for(NotFound())
    try:
        picked = show.pick(current_scope(), request.args, today())
    except Invalid as exc:
        return Response(gettext(exc.message), status=400, mimetype="text/plain")
    fig = show.FIGURES[key][0](current_scope(), picked.period)
    body = "\ufeff" + fig.csv(show.csv_header(fig))
    p = picked.period
    name = f"{key}-{p.start:%Y%m%d}-{p.end:%Y%m%d}.csv"
    return Response(body.encode("utf-8"), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename={name}", "Cache-Control": "no-store"})


def _churn_filter() -> tuple[churn.ChurnFilter, dict[str, Any], list[Any]]:
    scope, args = current_scope(), request.args
    dealers = dealer_choices(scope) if scope.all_dealers else []
    dealer = parse_int(args.get("dealer")) if scope.all_dealers else None
    if dealer is not None and dealer not in {d.id for d in dealers}:
        dealer = None
    band = args.get("band", "")
    reason = parse_int(args.get("reason")) or 0
    segment = args.get("segment", "")
    lo, hi = parse_int(args.get("min")), parse_int(args.get("max"))
    lo = lo if lo is not None and 0 <= lo <= 100 else None
    hi = hi if hi is not None and 0 <= hi <= 100 else None
    flt = churn.ChurnFilter(
        band=ChurnBand(band) if band in {b.value for b in ChurnBand} else None,
        reason=reason if reason in {int(r) for r in ChurnReason} else 0,
        segment=ValueSegment(segment) if segment in {v.value for v in ValueSegment} else None,
        min_score=lo, max_score=hi, q=args.get("q", "").strip()[:64], dealer=dealer)
    query = {k: v for k, v in {"band": flt.band.value if flt.band else "", "reason": flt.reason or "",
                               "segment": flt.segment.value if flt.segment else "", "min": lo, "max": hi,
                               "q": flt.q, "dealer": dealer or ""}.items() if v not in ("", None)}
    return flt, query, dealers


@bp.get("/churn", endpoint="churn")
@require_perm(Perm.ANALYTICS_VIEW)
def churn_page() -> str:
    """Customers by churn risk, highest first, with reasons in words and a follow-up action."""
    flt, query, dealers = _churn_filter()
    page = churn.list_page(current_scope(), flt, clamp_page(request.args.get("page")))
    return render_template("admin/analytics/churn.html", page=page, flt=flt, query=query, dealers=dealers,
                           reasons=list(ChurnReason), segments=list(ValueSegment), bands=list(ChurnBand),
                           as_of=_as_of("scores"), next_fill=show.next_fill(today()).isoformat())


@bp.get("/churn.csv")
@require_perm(Perm.ANALYTICS_VIEW)
def churn_csv() -> Response:
    """The filtered churn list as CSV (phones masked for roles that may not see them)."""
    flt, _, _ = _churn_filter()
    name = f"churn-risk-{today():%Y%m%d}.csv"
    stream = churn.export_csv(current_scope(), flt, gettext)
    return Response(stream_with_context(stream), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename={name}", "Cache-Control": "no-store"})


@bp.post("/churn/<int:customer_id>/task")
@require_perm(Perm.ANALYTICS_VIEW)
def churn_task(customer_id: int) -> BaseResponse:
    """Make a follow-up task for one customer on the list (once: a second click says it exists)."""
    try:
        made = churn.create_task(current_staff(), customer_id, today(), client_ip())
    except NotFound as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
    else:
        if made:
            flash(gettext("Follow-up task created, due in %(n)s days.", n=churn.TASK_DUE_DAYS), "success")
        else:
            flash(gettext("This customer already has an open follow-up task."), "info")
    back = request.form.get("next", "")
    return redirect(back if back.startswith("/admin/") and "\\" not in back else url_for(".churn"), 303)
