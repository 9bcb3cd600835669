"""Brand admin: staff accounts (create, deactivate, reset password) and dealers (create, edit)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.exceptions import Forbidden as HTTPForbidden
from werkzeug.wrappers import Response

from scrm.admin import nav
from scrm.admin.auth import client_ip
from scrm.admin.forms import ConfirmForm, DealerForm, PasswordForm, StaffForm, parse_int
from scrm.admin.helpers import flash_domain_error, http_for
from scrm.admin.scoping import current_scope, current_staff, get_scoped
from scrm.models import Dealer, Role, StaffUser
from scrm.services import dealers as dealer_svc
from scrm.services import staff as staff_svc
from scrm.services.errors import DomainError, Forbidden, NotFound
from scrm.services.keyword_admin import dealer_choices
from scrm.services.paging import clamp_page
from scrm.services.scope import Perm
from scrm.services.validation import FormInvalid

bp = Blueprint("staff", __name__)
nav.add_item(nav.NavItem("settings", "admin.staff.index", "Staff", order=20, perm=Perm.STAFF_MANAGE,
                         active_prefixes=("admin.staff.create", "admin.staff.password")))
nav.add_item(nav.NavItem("settings", "admin.staff.dealers", "Dealers", order=15, perm=Perm.DEALERS_MANAGE,
                         active_prefixes=("admin.staff.dealer_",)))


@bp.before_request
def _brand_admin_only() -> None:
    if g.get("scope") is None or not (g.scope.can(Perm.STAFF_MANAGE) and g.scope.can(Perm.DEALERS_MANAGE)):
        raise HTTPForbidden()


# -- staff ---------------------------------------------------------------------------------------
@bp.get("/staff/")
def index() -> str:
    """Staff accounts of the account."""
    scope = current_scope()
    page = staff_svc.list_staff(scope, clamp_page(request.args.get("page")))
    names = {d.id: d.name for d in dealer_choices(scope)}
    return render_template("admin/staff/list.html", page=page, dealer_names=names, confirm=ConfirmForm(),
                           me=current_staff().id)


def _role_choices(form: StaffForm) -> None:
    from scrm.admin.helpers import ROLE_LABELS

    form.role.choices = [(r.value, str(ROLE_LABELS[r.value])) for r in Role]
    form.dealer_id.choices = [("", gettext("— none (brand admin) —"))] + [
        (str(d.id), f"{d.name} ({d.code})") for d in dealer_choices(current_scope())]


@bp.route("/staff/new", methods=["GET", "POST"])
def create() -> Any:
    """A new staff account with an initial password."""
    form = StaffForm()
    _role_choices(form)
    if request.method == "GET":
        form.role.data = Role.DEALER_STAFF.value
    elif form.validate_on_submit():
        try:
            user = staff_svc.create_staff(
                account_id=current_scope().account_id, username=form.username.data or "",
                password=form.password.data or "", role=form.role.data or "",
                dealer_id=parse_int(form.dealer_id.data), display_name=form.display_name.data or "",
                actor=current_staff(), ip=client_ip())
        except FormInvalid as exc:
            form.show_problems(exc)
        except DomainError as exc:
            http_for(exc)
        else:
            flash(gettext("Staff account %(username)s created.", username=user.username), "success")
            return redirect(url_for(".index"), 303)
    form.password.data = ""
    return render_template("admin/staff/form.html", form=form), 422 if form.has_errors else 200


def _set_active(staff_id: int, active: bool) -> Response:
    try:
        user = staff_svc.set_active(current_staff(), staff_id, active, client_ip())
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
        return redirect(url_for(".index"), 303)
    if active:
        flash(gettext("%(username)s can sign in again.", username=user.username), "success")
    else:
        flash(gettext("%(username)s can no longer sign in.", username=user.username), "success")
    return redirect(url_for(".index"), 303)


@bp.post("/staff/<int:staff_id>/deactivate")
def deactivate(staff_id: int) -> Response:
    """Stop a staff member from signing in (their open sessions end at the next request)."""
    return _set_active(staff_id, False)


@bp.post("/staff/<int:staff_id>/activate")
def activate(staff_id: int) -> Response:
    """Let a deactivated staff member sign in again."""
    return _set_active(staff_id, True)


@bp.route("/staff/<int:staff_id>/password", methods=["GET", "POST"])
def password(staff_id: int) -> Any:
    """Set a new password for a staff member."""
    target = get_scoped(StaffUser, staff_id)
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            staff_svc.reset_password(current_staff(), staff_id, form.password.data or "", client_ip())
        except FormInvalid as exc:
            form.show_problems(exc)
        except DomainError as exc:
            http_for(exc)
        else:
            flash(gettext("New password set for %(username)s.", username=target.username), "success")
            return redirect(url_for(".index"), 303)
    return render_template("admin/staff/password.html", form=form, target=target), (
        422 if form.has_errors else 200)


# -- dealers -------------------------------------------------------------------------------------
@bp.get("/dealers/")
def dealers() -> str:
    """Dealers of the account."""
    page = dealer_svc.list_dealers(current_scope(), clamp_page(request.args.get("page")))
    return render_template("admin/dealers/list.html", page=page)


def _dealer_form(form: DealerForm, dealer: Dealer | None) -> Any:
    if form.validate_on_submit():
        try:
            if dealer is None:
                saved = dealer_svc.create_dealer(current_staff(), form.to_input(), client_ip())
            else:
                saved = dealer_svc.update_dealer(current_staff(), dealer.id, form.to_input(), client_ip())
        except FormInvalid as exc:
            form.show_problems(exc)
        except DomainError as exc:
            http_for(exc)
        else:
            flash(gettext("Dealer %(name)s saved.", name=saved.name), "success")
            return redirect(url_for(".dealers"), 303)
    return render_template("admin/dealers/form.html", form=form, dealer=dealer), 422 if form.has_errors else 200


@bp.route("/dealers/new", methods=["GET", "POST"])
def dealer_create() -> Any:
    """A new dealer."""
    return _dealer_form(DealerForm(), None)


@bp.route("/dealers/<int:dealer_id>/edit", methods=["GET", "POST"])
def dealer_edit(dealer_id: int) -> Any:
    """Edit a dealer."""
    dealer = get_scoped(Dealer, dealer_id)
    form = DealerForm(obj=dealer if request.method == "GET" else None)
    if request.method == "GET":
        form.latitude.data = "" if dealer.latitude is None else str(dealer.latitude)
        form.longitude.data = "" if dealer.longitude is None else str(dealer.longitude)
    return _dealer_form(form, dealer)
