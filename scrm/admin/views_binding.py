"""Staff side of binding: the one-time binding QR for a customer, revoking it, unbinding a follower.

The customer 360 page includes `admin/customers/_binding_actions.html`, which asks `binding_panel(c)`
(a Jinja global registered here) for the open codes and the consent history.
"""

from __future__ import annotations

import io
from typing import Any

import segno
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext, lazy_gettext
from werkzeug.wrappers import Response

from scrm.admin.auth import client_ip
from scrm.admin.forms import ConfirmForm
from scrm.admin.helpers import flash_domain_error, http_for
from scrm.admin.scoping import current_scope, current_staff
from scrm.db import utcnow
from scrm.models import BindingCode, BindMethod, Customer
from scrm.services import binding_codes as svc
from scrm.services.errors import DomainError, Forbidden, NotFound

bp = Blueprint("binding", __name__, url_prefix="/binding")
QR_SCALE = 12

CHANNEL_LABELS = {
    BindMethod.CHAT.value: lazy_gettext("WeChat chat"), BindMethod.QR.value: lazy_gettext("Binding QR code"),
    BindMethod.H5.value: lazy_gettext("H5 form"), BindMethod.STAFF.value: lazy_gettext("Staff"),
    BindMethod.API.value: lazy_gettext("Dealer system"),
}


@bp.app_template_global()
def binding_panel(customer: Customer) -> dict[str, Any]:
    """What the 360 page's binding partial shows: open codes, consent history, whether unbinding is allowed."""
    scope = current_scope()
    return {"codes": svc.open_codes(scope, customer.id), "consents": svc.consent_records(scope, customer.id),
            "may_unbind": svc.may_unbind(scope), "channels": CHANNEL_LABELS}


def _code(code_id: int) -> BindingCode:
    try:
        return svc.get_code(current_scope(), code_id)
    except NotFound as exc:
        http_for(exc)


@bp.post("/customers/<int:customer_id>/codes")
def create_code(customer_id: int) -> Response:
    """Make a one-time binding QR for the customer and show it."""
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("admin.customers.view", customer_id=customer_id), 303)
    try:
        code = svc.create_code(current_staff(), customer_id, client_ip())
    except (NotFound, Forbidden) as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
        return redirect(url_for("admin.customers.view", customer_id=customer_id) + "#wechat", 303)
    return redirect(url_for(".show_code", code_id=code.id), 303)


@bp.get("/codes/<int:code_id>")
def show_code(code_id: int) -> str:
    """The code, big enough to scan from a phone, with its expiry."""
    code = _code(code_id)
    now = utcnow()
    state = ("used" if code.used_at else "revoked" if code.revoked_at else
             "expired" if code.expires_at <= now else "open")
    return render_template("admin/binding/code.html", code=code, state=state,
                           minutes_left=max(0, int((code.expires_at - now).total_seconds() // 60)),
                           customer=svc.customer_of(current_scope(), code))


@bp.get("/codes/<int:code_id>/qr.png")
def code_image(code_id: int) -> Response:
    """The QR image of the code's WeChat URL (drawn here: no request to WeChat's image host)."""
    code = _code(code_id)
    if not code.url:
        http_for(NotFound())
    buf = io.BytesIO()
    segno.make(code.url, error="m", micro=False).save(buf, kind="png", scale=QR_SCALE, border=4)
    resp = Response(buf.getvalue(), mimetype="image/png")
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.post("/codes/<int:code_id>/revoke")
def revoke_code(code_id: int) -> Response:
    """Revoke an unused code."""
    code = _code(code_id)
    if ConfirmForm().validate_on_submit():
        svc.revoke_code(current_staff(), code.id, client_ip())
        flash(gettext("The binding QR code was revoked."), "success")
    return redirect(url_for("admin.customers.view", customer_id=code.customer_id) + "#wechat", 303)


@bp.post("/bindings/<int:binding_id>/unbind")
def unbind(binding_id: int) -> Response:
    """Unbind a follower from the customer (managers and brand admins; audited)."""
    if not ConfirmForm().validate_on_submit():
        http_for(Forbidden())
    try:
        b = svc.staff_unbind(current_staff(), binding_id, client_ip())
    except (NotFound, Forbidden) as exc:
        http_for(exc)
    flash(gettext("The WeChat follower was unbound."), "success")
    return redirect(url_for("admin.customers.view", customer_id=b.customer_id) + "#wechat", 303)
