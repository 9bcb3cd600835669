"""Official-account settings (read-only, secrets masked), its dealers and their QR codes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext

from scrm.admin import nav
from scrm.admin.auth import client_ip, require_perm
from scrm.admin.forms import QrForm, parse_int
from scrm.admin.helpers import flash_domain_error, http_for
from scrm.admin.scoping import current_scope, current_staff
from scrm.services import dealers as dealer_svc
from scrm.services.accounts import settings_for_id
from scrm.services.errors import DomainError, Forbidden, NotFound
from scrm.services.keyword_admin import dealer_choices
from scrm.services.scope import Perm
from scrm.services.validation import FormInvalid

bp = Blueprint("account", __name__, url_prefix="/account")
nav.add_item(nav.NavItem("settings", "admin.account.index", "Official account settings", order=10))


def mask(secret: str) -> str:
    """Enough of a secret to recognise it, never enough to use it."""
    if not secret:
        return ""
    if len(secret) < 12:
        return "•" * 8
    return f"{secret[:2]}{'•' * 8}{secret[-2:]}"


def _render(form: QrForm, status: int = 200) -> Any:
    scope = current_scope()
    account = settings_for_id(scope.account_id)
    public = current_app.extensions["scrm.settings"].app.public_url.rstrip("/")
    dealers = dealer_choices(scope)
    scenes = dealer_svc.list_scenes(scope)
    images = {s.id: dealer_svc.qr_image_url(s) for s in scenes}
    form.dealer_id.choices = [(str(d.id), f"{d.name} ({d.code})") for d in dealers]
    info = {"name": account.name, "slug": account.slug, "app_id": account.app_id,
            "safe_mode": account.safe_mode, "sandbox": account.is_sandbox, "api_base": account.api_base_url,
            "webhook": f"{public}/wechat/{account.slug}", "token": mask(account.token),
            "aes_key": mask(account.encoding_aes_key)}
    return render_template("admin/account.html", info=info, dealers=dealers, scenes=scenes, images=images,
                           dealer_names={d.id: d.name for d in dealers}, form=form,
                           can_qr=scope.can(Perm.QR_MANAGE)), status


@bp.get("/")
def index() -> Any:
    """The account page."""
    return _render(QrForm())


@bp.post("/qr")
@require_perm(Perm.QR_MANAGE)
def create_qr() -> Any:
    """Create a dealer QR code and its WeChat ticket."""
    form = QrForm()
    if not form.validate_on_submit():
        return _render(form, 400)
    dealer_id = parse_int(form.dealer_id.data)
    days = parse_int(form.days.data)
    try:
        if dealer_id is None:
            raise NotFound()
        scene = dealer_svc.create_dealer_qr(current_staff(), dealer_id, form.label.data or "",
                                            bool(form.permanent.data), days if days is not None else 0,
                                            client_ip())
    except FormInvalid as exc:
        form.show_problems(exc)
        return _render(form, 422)
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
        return _render(form, 502)
    flash(gettext("QR code “%(label)s” created.", label=scene.label), "success")
    return redirect(url_for(".index"), 303)
