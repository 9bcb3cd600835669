"""PIPL requests in the admin: export a customer's data, erase it after confirmation, and the request log."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext
from werkzeug.wrappers import Response
from wtforms import BooleanField, StringField, TextAreaField

from scrm.admin import nav
from scrm.admin.auth import client_ip
from scrm.admin.forms import STRIP, AdminForm
from scrm.admin.helpers import dealer_name, flash_domain_error, http_for
from scrm.admin.scoping import current_scope, current_staff
from scrm.models import Customer
from scrm.services import customer_profile as profiles
from scrm.services import privacy
from scrm.services import privacy_erase as erasing
from scrm.services import privacy_export as exporting
from scrm.services.errors import DomainError, NotFound
from scrm.services.paging import clamp_page
from scrm.services.scope import Perm
from scrm.services.validation import FormInvalid

bp = Blueprint("privacy", __name__, url_prefix="/privacy")
nav.add_item(nav.NavItem("audit", "admin.privacy.index", "Privacy requests", order=20, perm=Perm.CUSTOMER_PHONES,
                         active_prefixes=("admin.privacy.",)))


class ExportForm(AdminForm):
    reason = TextAreaField("Reason", filters=STRIP)


class EraseForm(AdminForm):
    confirm = StringField("Confirmation", filters=STRIP)
    reason = TextAreaField("Reason", filters=STRIP)
    erase_messages = BooleanField("Also erase WeChat messages", default=False)


def _forbidden() -> tuple[str, int]:
    return render_template("admin/privacy/forbidden.html", message=gettext(privacy.PrivacyForbidden.message)), 403


def _customer(customer_id: int) -> Customer:
    """The customer in scope (404 otherwise); the role check is the caller's."""
    try:
        return profiles.get_customer(current_scope(), customer_id)
    except NotFound as exc:
        http_for(exc)


def _back(customer: Customer, exc: DomainError) -> Response:
    flash_domain_error(exc)
    return redirect(url_for("admin.customers.view", customer_id=customer.id), 303)


@bp.get("/")
def index() -> Any:
    """Privacy requests (exports and erasures) in scope, newest first."""
    scope = current_scope()
    if not privacy.may_act(scope):
        return _forbidden()
    page = privacy.list_requests(scope, clamp_page(request.args.get("page")))
    staff = {r.staff_id: privacy.staff_label(r.staff_id) for r in page.items if r.staff_id}
    dealers = {r.dealer_id: dealer_name(r.dealer_id) for r in page.items} if scope.all_dealers else {}
    return render_template("admin/privacy/list.html", page=page, staff_names=staff, dealers=dealers,
                           kinds=privacy.KIND_LABELS, count_labels=privacy.COUNT_LABELS)


@bp.route("/customers/<int:customer_id>/export", methods=["GET", "POST"])
def export(customer_id: int) -> Any:
    """A reason, then the customer's data as a ZIP download (audited)."""
    customer = _customer(customer_id)
    if not privacy.may_act(current_scope()):
        return _forbidden()
    if customer.erased_at is not None:
        return _back(customer, privacy.AlreadyErased())
    form = ExportForm()
    if form.validate_on_submit():
        try:
            result = exporting.export_customer(current_staff(), customer.id, form.reason.data or "",
                                               language=str(get_locale() or "zh"), ip=client_ip())
        except FormInvalid as exc:
            form.show_problems(exc)
        else:
            response = Response(result.data, mimetype="application/zip")
            response.headers["Content-Disposition"] = (
                f"attachment; filename=\"{result.filename}\"; filename*=UTF-8''{quote(result.filename)}")
            response.headers["Cache-Control"] = "no-store"
            return response
    return render_template("admin/privacy/export.html", c=customer, form=form, tables=exporting.TABLES,
                           cap=exporting.MESSAGE_CAP), 422 if form.has_errors else 200


@bp.route("/customers/<int:customer_id>/erase", methods=["GET", "POST"])
def erase(customer_id: int) -> Any:
    """The confirmation page, then the erasure (typed customer number and a reason required)."""
    customer = _customer(customer_id)
    if not privacy.may_act(current_scope()):
        return _forbidden()
    staff = current_staff()
    try:
        plan = erasing.preview(staff, customer.id)
    except DomainError as exc:
        return _back(customer, exc)
    form = EraseForm()
    if form.validate_on_submit():
        try:
            erasing.erase_customer(staff, customer.id, confirm=form.confirm.data or "", reason=form.reason.data or "",
                                   erase_messages=bool(form.erase_messages.data), ip=client_ip())
        except FormInvalid as exc:
            form.show_problems(exc)
        except DomainError as exc:
            return _back(customer, exc)
        else:
            flash(gettext("The customer's personal data has been erased. The erasure is recorded."), "success")
            return redirect(url_for("admin.customers.view", customer_id=customer.id), 303)
    return render_template("admin/privacy/erase.html", c=customer, form=form, plan=plan), \
        422 if form.has_errors else 200


@bp.app_template_global()
def privacy_state(customer: Customer) -> dict[str, Any]:
    """What the 360 page's privacy panel shows: may this user act, and the erasure if there was one."""
    erasure = privacy.erasure_of(customer)
    return {"allowed": privacy.may_act(current_scope()), "erasure": erasure,
            "staff": privacy.staff_label(erasure.staff_id) if erasure else ""}
