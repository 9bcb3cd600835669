"""The best-leads page: prospects by lead score, with invitations, tasks, intent edits and a CSV export."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response as BaseResponse

from scrm import db, runtime
from scrm.admin import nav
from scrm.admin.auth import client_ip
from scrm.admin.forms import parse_int
from scrm.admin.helpers import flash_domain_error, http_for
from scrm.admin.scoping import current_scope, current_staff
from scrm.models import BuyTimeline, Follower
from scrm.services import lead_intent
from scrm.services import leads_admin as svc
from scrm.services.analytics_common import BUDGET_LABELS, TIMELINE_LABELS
from scrm.services.errors import DomainError, Invalid, NotFound
from scrm.services.keyword_admin import dealer_choices
from scrm.services.scope import Perm

bp = Blueprint("leads", __name__, url_prefix="/leads")
nav.add_group("analytics", "Analytics", 22)
nav.add_item(nav.NavItem("analytics", "admin.leads.index", "Best leads", order=40, perm=Perm.ANALYTICS_VIEW,
                         active_prefixes=("admin.leads.",)))


@bp.before_request
def _allowed() -> None:
    if not current_scope().can(Perm.ANALYTICS_VIEW):
        abort(403)


def _filters() -> tuple[svc.Filters, dict[str, Any], list[Any]]:
    scope = current_scope()
    dealers = dealer_choices(scope) if scope.all_dealers else []
    dealer = parse_int(request.args.get("dealer"))
    dealer = dealer if dealer in {d.id for d in dealers} else None
    min_score = max(0, min(100, parse_int(request.args.get("min_score")) or 0))
    timeline = request.args.get("timeline", "")
    timeline = timeline if timeline in set(BuyTimeline) else ""
    model = request.args.get("model", "").strip()[:100]
    not_invited = request.args.get("not_invited") == "1"
    query = {k: v for k, v in (("min_score", min_score), ("timeline", timeline), ("model", model),
                               ("not_invited", "1" if not_invited else ""), ("dealer", dealer)) if v}
    return svc.Filters(min_score, timeline, model, not_invited, dealer), query, dealers


@bp.get("/")
def index() -> str:
    """The best leads in scope, highest score first."""
    flt, query, dealers = _filters()
    rows = svc.list_leads(db.session(), current_scope(), flt)
    return render_template("admin/leads/index.html", rows=rows, flt=flt, query=query, dealers=dealers,
                           timelines=TIMELINE_LABELS, tz=runtime.get().settings.app.tz)


@bp.get("/export.csv")
def export() -> Response:
    """The filtered list as CSV (UTF-8 with a BOM for Excel)."""
    flt, _, _ = _filters()
    body = "\ufeff" + svc.to_csv(svc.list_leads(db.session(), current_scope(), flt, limit=10000))
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=best-leads.csv"})


def _back() -> BaseResponse:
    return redirect(request.form.get("next") or url_for("admin.leads.index"), 303)


@bp.post("/<int:follower_id>/invite")
def invite(follower_id: int) -> BaseResponse:
    """Send a test-drive invitation in the chat (within the 48-hour window)."""
    try:
        svc.invite(current_scope(), current_staff(), follower_id, client_ip())
        flash(gettext("The invitation is on its way."), "success")
    except NotFound as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
    return _back()


@bp.post("/<int:follower_id>/task")
def task(follower_id: int) -> BaseResponse:
    """Make a task for an advisor to invite the lead."""
    today = db.utcnow().astimezone(runtime.get().settings.app.tz).date()
    try:
        made = svc.make_task(current_scope(), current_staff(), follower_id, today, client_ip())
        flash(gettext("Task made for an advisor.") if made else gettext("There is already a task for this lead."),
              "success" if made else "info")
    except NotFound as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
    return _back()


def _intent_page(follower_id: int, form: lead_intent.IntentForm, error: str = "", field: str = "",
                 status: int = 200) -> tuple[str, int]:
    scope = current_scope()
    rows = svc.list_leads(db.session(), scope, svc.Filters(follower_id=follower_id), limit=1)
    follower = db.session.get(Follower, follower_id)
    if not rows or follower is None:
        abort(404)
    models = lead_intent.dealer_models(db.session(), follower.dealer_id)
    return render_template("admin/leads/intent.html", lead=rows[0], form=form, models=models,
                           other=lead_intent.OTHER, budgets=BUDGET_LABELS, timelines=TIMELINE_LABELS,
                           error=error, field=field), status


@bp.get("/<int:follower_id>/intent")
def intent(follower_id: int) -> tuple[str, int]:
    """The intent form, filled with what is known."""
    row = lead_intent.of_follower(db.session(), follower_id)
    form = lead_intent.IntentForm()
    if row is not None:
        models = lead_intent.dealer_models(db.session(), row.dealer_id)
        in_list = row.model in models
        form = lead_intent.IntentForm(model=row.model if in_list else lead_intent.OTHER,
                                      other="" if in_list else row.model,
                                      budget=row.budget.value if row.budget else "",
                                      timeline=row.timeline.value if row.timeline else "", note=row.note)
    return _intent_page(follower_id, form)


@bp.post("/<int:follower_id>/intent")
def intent_save(follower_id: int) -> BaseResponse | tuple[str, int]:
    """Save the intent staff entered (source 'staff')."""
    f = request.form
    form = lead_intent.IntentForm(model=f.get("model", ""), other=f.get("other", ""),
                                  budget=f.get("budget", ""), timeline=f.get("timeline", ""), note=f.get("note", ""))
    try:
        svc.edit_intent(current_scope(), current_staff(), follower_id, form, client_ip())
    except NotFound as exc:
        http_for(exc)
    except Invalid as exc:
        text = gettext(exc.message, **exc.params) if exc.params else gettext(exc.message)
        return _intent_page(follower_id, form, text, exc.field, 422)
    flash(gettext("Intent saved. The score changes at the next nightly run."), "success")
    return redirect(url_for("admin.leads.index"), 303)

