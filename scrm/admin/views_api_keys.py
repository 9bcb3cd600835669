"""设置 › API 密钥: the dealer system's API keys (list, create with the secret shown once, revoke)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext

from scrm.admin import nav
from scrm.admin.auth import client_ip, require_perm
from scrm.admin.forms import ApiKeyForm, ConfirmForm, parse_int
from scrm.admin.helpers import http_for
from scrm.admin.scoping import current_scope, current_staff
from scrm.services import api_keys
from scrm.services.errors import Forbidden, Invalid, NotFound
from scrm.services.keyword_admin import dealer_choices
from scrm.services.scope import Perm

bp = Blueprint("api_keys", __name__, url_prefix="/api-keys")
nav.add_item(nav.NavItem("settings", "admin.api_keys.index", "API keys", order=30, perm=Perm.API_KEYS,
                         active_prefixes=("admin.api_keys.",)))


def _render(form: ApiKeyForm, new_key: str = "", status: int = 200) -> Any:
    scope = current_scope()
    dealers = dealer_choices(scope)
    form.dealer_id.choices = [(str(d.id), f"{d.name} ({d.code})") for d in dealers]
    if not form.dealer_id.data and scope.dealer_id is not None:
        form.dealer_id.data = str(scope.dealer_id)
    docs = url_for("api_doc.openapi_json", _external=True)
    return render_template("admin/api_keys.html", form=form, keys=api_keys.list_keys(scope), new_key=new_key,
                           dealer_names={d.id: d.name for d in dealers}, confirm=ConfirmForm(),
                           one_dealer=not scope.all_dealers, docs_url=docs), status


@bp.get("/")
@require_perm(Perm.API_KEYS)
def index() -> Any:
    """The keys in scope and the form for a new one."""
    return _render(ApiKeyForm())


@bp.post("/")
@require_perm(Perm.API_KEYS)
def create() -> Any:
    """Create a key and show its secret on this response only (never stored, never shown again)."""
    form = ApiKeyForm()
    if not form.validate_on_submit():
        return _render(form, status=400)
    scope = current_scope()
    dealer_id = parse_int(form.dealer_id.data) if scope.all_dealers else scope.dealer_id
    try:
        if dealer_id is None:
            raise Invalid("Choose a dealer.", field="dealer_id")
        row, key = api_keys.create_key(current_staff(), scope, dealer_id, form.name.data or "", client_ip())
    except Invalid as exc:
        form.show_problems(exc)
        return _render(form, status=422)
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    flash(gettext("API key “%(name)s” created. Copy it now: it will not be shown again.", name=row.name),
          "success")
    return _render(ApiKeyForm(formdata=None), new_key=key)


@bp.post("/<int:key_id>/revoke")
@require_perm(Perm.API_KEYS)
def revoke(key_id: int) -> Any:
    """Revoke a key; the dealer system is refused from its next request on."""
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for(".index"), 303)
    try:
        row = api_keys.revoke_key(current_staff(), current_scope(), key_id, client_ip())
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    flash(gettext("API key “%(name)s” revoked.", name=row.name), "success")
    return redirect(url_for(".index"), 303)

