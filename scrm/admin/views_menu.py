"""The menu editor: rows for 3 buttons x 5 sub-buttons, validation next to the rows, push to WeChat."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from scrm.admin import menu_form, nav
from scrm.admin.auth import client_ip, require_perm
from scrm.admin.forms import ConfirmForm
from scrm.admin.helpers import flash_domain_error, http_for
from scrm.admin.scoping import current_scope, current_staff
from scrm.services import menu_admin
from scrm.services.errors import DomainError, Forbidden
from scrm.services.scope import Perm

bp = Blueprint("menu", __name__, url_prefix="/menu")
nav.add_item(nav.NavItem("content", "admin.menu.index", "Menu", order=20))


def _render(rows: list[menu_form.Row], general: list[str], status: int = 200) -> Any:
    scope = current_scope()
    state = menu_admin.menu_state(scope)
    return render_template("admin/menu.html", rows=rows, general=general, state=state,
                           types=menu_form.TYPES, can_edit=scope.can(Perm.MENU_EDIT), form=ConfirmForm(),
                           key_types=sorted(menu_form.KEY_FIELD)), status


@bp.get("/")
def index() -> Any:
    """The menu in force (read-only unless the user may edit it)."""
    state = menu_admin.menu_state(current_scope())
    return _render(menu_form.rows_from_buttons(state.buttons), [])


@bp.post("/")
@require_perm(Perm.MENU_EDIT)
def save() -> Any:
    """Validate and save the submitted rows as a new menu version."""
    from scrm.services.menu import MenuInvalid

    rows = menu_form.rows_from_form(request.form)
    buttons, where = menu_form.buttons_from_rows(rows)
    try:
        menu_admin.save(current_staff(), buttons, client_ip())
    except MenuInvalid as exc:
        general = menu_form.attach(exc.problems, where, gettext)
        if not general and not any(r.errors or any(s.errors for s in r.subs) for r in rows):
            general = [gettext(exc.message, **exc.params) if exc.params else gettext(exc.message)]
        return _render(rows, general, 422)
    except DomainError as exc:
        http_for(exc)
    flash(gettext("Menu saved. Push it to WeChat to show it to followers."), "success")
    return redirect(url_for(".index"), 303)


@bp.post("/sync")
@require_perm(Perm.MENU_EDIT)
def sync() -> Response:
    """Push the current menu to WeChat; a failure is shown as a friendly message."""
    try:
        menu_admin.push(current_staff(), client_ip())
    except Forbidden as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
    else:
        flash(gettext("The menu was pushed to WeChat. Followers see it within about 5 minutes."), "success")
    return redirect(url_for(".index"), 303)
