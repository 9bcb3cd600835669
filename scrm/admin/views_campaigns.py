"""Campaigns: the list, the form (new and edit drafts), and the detail page with its dry run and results.

The actions (launch, pause, resume, cancel, duplicate) and the progress JSON live in
views_campaigns_actions, registered on the same blueprint.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from werkzeug.routing import BuildError

from scrm import db, runtime
from scrm.admin import campaign_form, nav
from scrm.admin.auth import require_perm
from scrm.admin.forms import ConfirmForm
from scrm.admin.helpers import http_for, localtime
from scrm.admin.scoping import current_scope
from scrm.models import Account, Campaign, Segment
from scrm.services import campaign_dryrun, campaign_results, campaigns
from scrm.services.errors import DomainError, Forbidden, Invalid, NotFound
from scrm.services.keyword_admin import dealer_choices
from scrm.services.paging import clamp_page
from scrm.services.scope import Perm

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")
nav.add_group("marketing", "Marketing", 26)
nav.add_item(nav.NavItem("marketing", "admin.campaigns.index", "Campaigns", order=20,
                         perm=Perm.CAMPAIGNS_MANAGE, active_prefixes=("admin.campaigns.",)))

STATUSES = ("draft", "scheduled", "running", "paused", "done", "cancelled")
STATUS_LABELS = {"draft": lazy_gettext("Draft"), "scheduled": lazy_gettext("Scheduled"),
                 "running": lazy_gettext("Running"), "paused": lazy_gettext("Paused"),
                 "done": lazy_gettext("Done"), "cancelled": lazy_gettext("Cancelled")}
STATUS_COLOURS = {"draft": "grey", "scheduled": "blue", "running": "amber", "paused": "red", "done": "green",
                  "cancelled": "grey"}
CHANNEL_LABELS = {"auto": lazy_gettext("Automatic"), "custom": lazy_gettext("Customer-service message"),
                  "template": lazy_gettext("Template message"), "mass": lazy_gettext("Mass send")}
DELIVERY_LABELS = {"pending": lazy_gettext("Waiting"), "held": lazy_gettext("Held"),
                   "sending": lazy_gettext("Sending"), "sent": lazy_gettext("Sent"),
                   "delivered": lazy_gettext("Delivered"), "failed": lazy_gettext("Failed"),
                   "skipped": lazy_gettext("Skipped"), "cancelled": lazy_gettext("Cancelled"),
                   "unknown": lazy_gettext("Unknown")}
EXCLUDED_LABELS = {"no_wechat": lazy_gettext("No WeChat follower"),
                   "unreachable": lazy_gettext("Unsubscribed or opted out")}
MIX_LABELS = {"custom": lazy_gettext("Customer-service message"), "template": lazy_gettext("Template message"),
              "skipped_window": lazy_gettext("Skipped: outside the 48-hour window"),
              "mass": lazy_gettext("Mass send")}
REASON_LABELS = {"capped": lazy_gettext("Frequency cap reached"), "opt_out": lazy_gettext("Opted out of marketing"),
                 "unsubscribed": lazy_gettext("Unsubscribed"), "no_follower": lazy_gettext("No WeChat follower"),
                 "stale": lazy_gettext("Too late to send"),
                 "invalid_payload": lazy_gettext("Message broke WeChat's limits"),
                 "window_closed": lazy_gettext("Outside the 48-hour window"),
                 "already_sent": lazy_gettext("Already sent"), "exited": lazy_gettext("Left the journey")}
WEEKDAYS = (lazy_gettext("Monday"), lazy_gettext("Tuesday"), lazy_gettext("Wednesday"),
            lazy_gettext("Thursday"), lazy_gettext("Friday"), lazy_gettext("Saturday"), lazy_gettext("Sunday"))


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {"CAMPAIGN_STATUS": STATUS_LABELS, "CAMPAIGN_COLOURS": STATUS_COLOURS, "CHANNEL_LABELS": CHANNEL_LABELS,
            "DELIVERY_LABELS": DELIVERY_LABELS, "EXCLUDED_LABELS": EXCLUDED_LABELS, "MIX_LABELS": MIX_LABELS,
            "WEEKDAYS": WEEKDAYS, "reason_label": reason_label, "localtime": localtime, "may_manage": _may_manage()}


def reason_label(reason: str) -> str:
    """A delivery's skip or failure reason in words (WeChat's own error text as it came)."""
    if reason in REASON_LABELS:
        return str(REASON_LABELS[reason])
    if reason.startswith("43004"):
        return gettext("Blocked by the user (unsubscribed)")
    return reason or "—"


def _may_manage() -> bool:
    scope = g.get("scope")
    return bool(scope is not None and scope.can(Perm.CAMPAIGNS_MANAGE))


def segments_in_scope() -> list[Segment]:
    """The non-archived segments the signed-in user may target (their dealer's and account-wide)."""
    stmt = current_scope().apply(sa.select(Segment), Segment, shared=True)
    return list(db.session.scalars(stmt.where(Segment.archived_at.is_(None)).order_by(Segment.name)))


def _dealers() -> dict[int, str]:
    return {d.id: d.name for d in dealer_choices(current_scope())}


def _templates() -> list[Any]:
    try:
        from scrm.services import compose_admin
    except ImportError:
        return []
    account = db.session.get(Account, current_scope().account_id)
    try:
        return list(compose_admin.templates_for(account.slug if account else ""))
    except DomainError:
        return []


def _segment_new_url() -> str:
    try:
        return url_for("admin.segments.new")
    except BuildError:   # the segment builder may not be there yet
        return "/admin/segments/new"


def load(campaign_id: int) -> Campaign:
    """The campaign in scope, else 404."""
    try:
        return campaigns.get(current_scope(), campaign_id)
    except (NotFound, Forbidden) as exc:
        http_for(exc)


@bp.get("/")
@require_perm(Perm.CAMPAIGNS_MANAGE)
def index() -> Any:
    """Campaigns in scope by status, newest first."""
    status = request.args.get("status", "")
    status = status if status in STATUSES else ""
    page = campaigns.listing(current_scope(), status or None, clamp_page(request.args.get("page")))
    ids = [c.id for c in page.items if c.status.value in ("running", "paused", "done")]
    progress: dict[int, Any] = {}
    for cid in ids:
        try:
            progress[cid] = campaign_results.progress(current_scope(), cid)
        except DomainError:
            continue
    segments = {s.id: s.name for s in segments_in_scope()}
    return render_template("admin/campaigns/list.html", page=page, status=status, statuses=STATUSES,
                           progress=progress, segments=segments, dealers=_dealers())


def _render_form(st: campaign_form.FormState, campaign: Campaign | None, status: int = 200) -> Any:
    scope = current_scope()
    quiet = runtime.get().settings.outbox.quiet_hours
    return render_template("admin/campaigns/form.html", st=st, campaign=campaign, segments=segments_in_scope(),
                           dealers=_dealers(), choose_dealer=scope.all_dealers, templates=_templates(),
                           default_quiet=quiet, segment_new_url=_segment_new_url()), status


@bp.get("/new")
@require_perm(Perm.CAMPAIGNS_MANAGE)
def new() -> Any:
    """The form for a new campaign."""
    st = campaign_form.FormState()
    if current_scope().dealer_id is not None and not current_scope().all_dealers:
        st.dealer_id = str(current_scope().dealer_id)
    if request.args.get("segment_id", "").isdigit():
        st.segment_id = request.args["segment_id"]
    return _render_form(st, None)


def _save(campaign: Campaign | None) -> Any:
    st = campaign_form.state_from(request.form)
    scope = current_scope()
    if campaign is not None:
        dealer_id = campaign.dealer_id
    elif scope.all_dealers:
        dealer_id = int(st.dealer_id) if st.dealer_id.strip().isdigit() else None
    else:
        dealer_id = scope.dealer_id
    try:
        data = campaign_form.to_input(st, dealer_id)
        saved = (campaigns.update(scope, campaign.id, data) if campaign is not None
                 else campaigns.create(scope, data))
    except Invalid as exc:
        message = gettext(exc.message, **exc.params) if exc.params else gettext(exc.message)
        campaign_form.show_error(st, exc, message)
        return _render_form(st, campaign, 422)
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    flash(gettext("Campaign “%(name)s” saved as a draft.", name=saved.name), "success")
    return redirect(url_for(".show", campaign_id=saved.id), 303)


@bp.post("/new")
@require_perm(Perm.CAMPAIGNS_MANAGE)
def create() -> Any:
    """Save a new draft; a problem is shown next to its field with everything typed kept."""
    return _save(None)


@bp.get("/<int:campaign_id>/edit")
@require_perm(Perm.CAMPAIGNS_MANAGE)
def edit(campaign_id: int) -> Any:
    """The form for a draft."""
    campaign = load(campaign_id)
    if campaign.status.value != "draft":
        flash(gettext("Only a draft can be edited; duplicate the campaign to change it."), "error")
        return redirect(url_for(".show", campaign_id=campaign_id), 303)
    return _render_form(campaign_form.state_of(campaign), campaign)


@bp.post("/<int:campaign_id>/edit")
@require_perm(Perm.CAMPAIGNS_MANAGE)
def update(campaign_id: int) -> Any:
    """Save a draft's changes."""
    return _save(load(campaign_id))


def _dry_run(campaign: Campaign) -> tuple[Any, str]:
    try:
        return campaign_dryrun.dry_run(current_scope(), campaign.id), ""
    except Invalid as exc:
        return None, gettext(exc.message, **exc.params) if exc.params else gettext(exc.message)


@bp.get("/<int:campaign_id>")
@require_perm(Perm.CAMPAIGNS_MANAGE)
def show(campaign_id: int) -> Any:
    """The campaign: summary, dry run (drafts), live progress and results."""
    campaign = load(campaign_id)
    scope = current_scope()
    dry, dry_error = (None, "")
    if campaign.status.value == "draft":
        dry, dry_error = _dry_run(campaign)
    progress = results = None
    if campaign.status.value != "draft":
        progress = campaign_results.progress(scope, campaign_id)
        results = campaign_results.results(scope, campaign_id)
    segment = db.session.get(Segment, campaign.segment_id) if campaign.segment_id else None
    return render_template("admin/campaigns/show.html", c=campaign, dry=dry, dry_error=dry_error,
                           progress=progress, results=results, segment=segment, dealers=_dealers(),
                           arms=_arms(results), confirm=ConfirmForm(formdata=None))


def _arms(results: Any) -> list[tuple[str, Any]]:
    """Per-arm results as (key, row) pairs whatever the container (dict or list of rows)."""
    if results is None:
        return []
    arms = getattr(results, "arms", None)
    if arms is None:
        arms = getattr(results, "per_arm", None) or {}
    if isinstance(arms, dict):
        return list(arms.items())
    return [(str(getattr(a, "key", "") or (a.get("key", "") if isinstance(a, dict) else "")), a) for a in arms]


from scrm.admin import views_campaigns_actions  # noqa: E402,F401  (registers the action routes on bp)
