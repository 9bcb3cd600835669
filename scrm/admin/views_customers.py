"""Customer records: the searchable list and the 360 view with notes and tags."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext, lazy_gettext
from wtforms import StringField, TextAreaField

from scrm.admin import nav
from scrm.admin.auth import client_ip
from scrm.admin.forms import AdminForm, parse_int
from scrm.admin.helpers import dealer_name, http_for
from scrm.admin.scoping import current_scope, current_staff
from scrm.models import Customer, Stage
from scrm.services import customer_admin as svc
from scrm.services import customer_export as exports
from scrm.services import customer_profile as profiles
from scrm.services.errors import Forbidden, NotFound
from scrm.services.keyword_admin import dealer_choices
from scrm.services.paging import clamp_page
from scrm.services.scope import Perm
from scrm.services.validation import FormInvalid

bp = Blueprint("customers", __name__, url_prefix="/customers")
nav.add_item(nav.NavItem("customers", "admin.customers.index", "Customer records", order=10,
                         active_prefixes=("admin.customers.",)))


STAGE_LABELS = {
    Stage.LEAD.value: lazy_gettext("Lead"), Stage.PROSPECT.value: lazy_gettext("Prospect"),
    Stage.OWNER.value: lazy_gettext("Owner"), Stage.LOST.value: lazy_gettext("Lost"),
}


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {"STAGE_LABELS": STAGE_LABELS, "PUSH_STATUS": profiles.PUSH_STATUS}


class NoteForm(AdminForm):
    text = TextAreaField("Note")


class TagsForm(AdminForm):
    tags = StringField("Tags")


SERVICE_LABELS = {"6m": lazy_gettext("No service for over 6 months"),
                  "12m": lazy_gettext("No service for over 12 months"), "never": lazy_gettext("Never serviced")}
_TAG_SPLIT = re.compile(r"[,，、;；\s]+")


def _filter(dealers: list[Any]) -> tuple[svc.CustomerFilter, dict[str, Any]]:
    """The list filter from the query string, and the query string that reproduces it (for links)."""
    scope = current_scope()
    args = request.args
    dealer = parse_int(args.get("dealer")) if scope.all_dealers else None
    if dealer is not None and dealer not in {d.id for d in dealers}:
        dealer = None  # not one of theirs: ignore the filter rather than reveal anything
    tags = tuple(dict.fromkeys(t[:32] for t in _TAG_SPLIT.split(args.get("tags", "")[:200]) if t))[:10]
    service = args.get("service", "")
    flt = svc.CustomerFilter(q=args.get("q", "").strip()[:64], stage=args.get("stage", ""),
                             bound={"yes": True, "no": False}.get(args.get("bound", "")),
                             model=args.get("model", "").strip()[:100], dealer=dealer, tags=tags,
                             service=service if service in svc.SERVICE_CHOICES else "")
    query = {k: v for k, v in {"q": flt.q, "stage": flt.stage if flt.stage in {s.value for s in Stage} else "",
                               "bound": args.get("bound", "") if flt.bound is not None else "",
                               "model": flt.model, "dealer": dealer or "", "tags": ", ".join(tags),
                               "service": flt.service}.items() if v}
    return flt, query


@bp.get("/")
def index() -> str:
    """Customers in scope: search, filters, 50 a page by keyset."""
    scope = current_scope()
    dealers = dealer_choices(scope) if scope.all_dealers else []
    flt, query = _filter(dealers)
    page = svc.list_customers(scope, flt, svc.Cursor.decode(request.args.get("after")))
    return render_template("admin/customers/list.html", page=page, flt=flt, query=query, dealers=dealers,
                           models=svc.model_choices(scope), bound=query.get("bound", ""),
                           service_labels=SERVICE_LABELS, export_cap=exports.EXPORT_CAP)


@bp.get("/export.csv")
def export() -> Response:
    """The filtered list as CSV (UTF-8 with BOM for Excel), streamed, capped and audited."""
    scope = current_scope()
    flt, _ = _filter(dealer_choices(scope) if scope.all_dealers else [])
    stream = exports.export_csv(current_staff(), flt, gettext, client_ip())
    name = f"customers-{profiles.today().strftime('%Y%m%d')}.csv"
    return Response(stream_with_context(stream), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}", "Cache-Control": "no-store"})


def _load(customer_id: int) -> Customer:
    try:
        return profiles.get_customer(current_scope(), customer_id)
    except NotFound as exc:
        http_for(exc)


def _render(customer: Customer, note_form: NoteForm, tags_form: TagsForm, status: int = 200) -> Any:
    scope = current_scope()
    if not tags_form.tags.data and not tags_form.has_errors:
        tags_form.tags.data = ", ".join(customer.tags or [])
    return render_template(
        "admin/customers/view.html", p=profiles.profile(scope, customer),
        timeline=profiles.timeline(scope, customer, clamp_page(request.args.get("page"))),
        note_form=note_form, tags_form=tags_form, can_tag=scope.can(Perm.CUSTOMER_TAGS),
        dealer_name=dealer_name(customer.dealer_id) if scope.all_dealers else "",
        today=profiles.today()), status


@bp.get("/<int:customer_id>")
def view(customer_id: int) -> Any:
    """The 360 view of one customer."""
    return _render(_load(customer_id), NoteForm(formdata=None), TagsForm(formdata=None))


@bp.post("/<int:customer_id>/notes")
def add_note(customer_id: int) -> Any:
    """Add a staff note; it shows at the top of the timeline."""
    customer = _load(customer_id)
    form = NoteForm()
    if form.validate_on_submit():
        try:
            profiles.add_note(current_staff(), customer.id, form.text.data or "", client_ip())
        except FormInvalid as exc:
            form.show_problems(exc)
            return _render(customer, form, TagsForm(formdata=None), 422)
        flash(gettext("Note added to the timeline."), "success")
    return redirect(url_for(".view", customer_id=customer.id) + "#timeline", 303)


@bp.post("/<int:customer_id>/tags")
def set_tags(customer_id: int) -> Response | Any:
    """Replace the customer's tags (managers and brand admins)."""
    customer = _load(customer_id)
    if not current_scope().can(Perm.CUSTOMER_TAGS):
        http_for(Forbidden())
    form = TagsForm()
    if form.validate_on_submit():
        try:
            tags = profiles.set_tags(current_staff(), customer.id, form.tags.data or "", client_ip())
        except FormInvalid as exc:
            form.show_problems(exc)
            return _render(customer, NoteForm(formdata=None), form, 422)
        flash(gettext("Tags saved: %(tags)s", tags="、".join(tags)) if tags else gettext("Tags cleared."),
              "success")
    return redirect(url_for(".view", customer_id=customer.id), 303)

