"""The message editor's endpoints: preview and test send (JSON), customer search, a try-out page, and
the page where staff link their own WeChat for test sends."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext

from scrm.admin import compose_form, nav
from scrm.admin.auth import client_ip
from scrm.admin.forms import parse_int
from scrm.admin.scoping import current_scope, current_staff
from scrm.models import CampaignChannel
from scrm.services import compose_admin as svc
from scrm.services import staff_wechat
from scrm.services.errors import DomainError, Forbidden, Invalid, NotFound

bp = Blueprint("compose", __name__, url_prefix="/compose")
nav.add_item(nav.NavItem("settings", "admin.compose.wechat", "My WeChat", order=90, visible=svc.may_compose,
                         active_prefixes=("admin.compose.",)))

_PREFIX = re.compile(r"^[A-Za-z0-9_-]{0,60}$")
AUTO_LABELS = {"custom": lazy_gettext("Inside the 48-hour window: customer-service message"),
               "template": lazy_gettext("Otherwise: template message")}
CHANNEL_LABELS = {"auto": lazy_gettext("Automatic"), "custom": lazy_gettext("Customer-service message"),
                  "template": lazy_gettext("Template message"), "mass": lazy_gettext("Mass send")}


def _guard() -> None:
    if not svc.may_compose(current_scope()):
        abort(403)


def _said(exc: DomainError) -> str:
    return gettext(exc.message, **exc.params) if exc.params else gettext(exc.message)


def _templates() -> list[tuple[str, str, list[str]]]:
    return svc.templates_in_scope(current_scope())


def _inputs() -> tuple[str, dict[str, Any], CampaignChannel, int | None]:
    prefix = request.form.get("compose_prefix", "")
    if not _PREFIX.match(prefix):
        abort(400)
    try:
        channel = CampaignChannel(request.form.get("compose_channel", "auto"))
    except ValueError:
        channel = CampaignChannel.AUTO
    return prefix, compose_form.parse(request.form, prefix), channel, parse_int(request.form.get("compose_customer"))


def _part(kind: str, part: dict[str, Any] | None, titles: dict[str, str]) -> dict[str, Any] | None:
    if not part:
        return None
    if part.get("msgtype") == "text":
        return {"via": kind, "kind": "text", "content": part["text"]["content"]}
    if part.get("msgtype") == "news":
        art = part["news"]["articles"][0]
        return {"via": kind, "kind": "news", **{k: art[k] for k in ("title", "description", "url", "picurl")}}
    tid = str(part.get("template_id", ""))
    return {"via": kind, "kind": "template", "template_id": tid, "title": titles.get(tid, tid),
            "url": part.get("url", ""), "fields": [{"key": k, "value": v["value"]} for k, v in part["data"].items()]}


def _parts(shown: svc.Preview) -> list[dict[str, Any]]:
    titles = {tid: title for tid, title, _k in _templates()}
    if shown.channel == CampaignChannel.AUTO:
        parts = [_part("custom", shown.payload.get("custom"), titles),
                 _part("template", shown.payload.get("template"), titles)]
        for p in parts:
            if p is not None:
                p["label"] = str(AUTO_LABELS[p["via"]])
    else:
        parts = [_part("custom" if shown.channel != CampaignChannel.TEMPLATE else "template", shown.payload, titles)]
    return [p for p in parts if p is not None]


def _refused(exc: DomainError, prefix: str, status: int) -> Any:
    field = compose_form.field_name(prefix, exc.field) if isinstance(exc, Invalid) and exc.field else ""
    return jsonify(ok=False, error=_said(exc), field=field), status


@bp.get("/")
def index() -> Any:
    """A page to try a message: the editor, a channel, a customer, the preview and a test send."""
    _guard()
    channel = request.args.get("channel", "custom")
    if channel not in CHANNEL_LABELS:
        channel = "custom"
    return render_template("admin/compose/index.html", templates=_templates(), channel=channel,
                           channels=CHANNEL_LABELS, link=staff_wechat.link_state(current_staff().id))


@bp.post("/preview")
def preview() -> Any:
    """The message rendered for a customer in scope (or the sample), with WeChat's limit problems."""
    _guard()
    prefix, message, channel, customer_id = _inputs()
    try:
        shown = svc.preview(current_scope(), message, channel, customer_id)
    except (NotFound, Forbidden):
        return jsonify(ok=False, error=gettext("That customer was not found.")), 404
    except DomainError as exc:
        return _refused(exc, prefix, 422)
    return jsonify(ok=True, channel=channel.value, customer=shown.customer or gettext("Sample owner (张伟)"),
                   parts=_parts(shown), problems=[gettext(text, **params) for text, params in shown.problems])


@bp.post("/test-send")
def test_send() -> Any:
    """Send the rendered message to the staff member's own linked WeChat."""
    _guard()
    prefix, message, channel, customer_id = _inputs()
    try:
        svc.test_send(current_scope(), staff_id=current_staff().id, message=message, channel=channel,
                      customer_id=customer_id, ip=client_ip())
    except (NotFound, Forbidden):
        return jsonify(ok=False, error=gettext("That customer was not found.")), 404
    except (svc.NotLinked, svc.FollowerGone) as exc:
        return jsonify(ok=False, error=_said(exc), link_url=url_for("admin.compose.wechat"),
                       link_label=gettext("Link my WeChat")), 409
    except svc.TooManyTests as exc:
        return jsonify(ok=False, error=_said(exc)), 429
    except DomainError as exc:
        return _refused(exc, prefix, 422)
    return jsonify(ok=True, message=gettext("Sent. It will reach your WeChat in a few seconds."))


@bp.get("/customers")
def customers() -> Any:
    """Customers in scope matching ?q= (name, mobile, plate), for the preview's picker."""
    _guard()
    return jsonify(customers=svc.find_customers(current_scope(), request.args.get("q", "")[:64]))


@bp.get("/wechat")
def wechat() -> Any:
    """The staff member's linked WeChat, a pending code and the words to send."""
    _guard()
    return render_template("admin/compose/wechat.html", link=staff_wechat.link_state(current_staff().id))


@bp.post("/wechat/code")
def wechat_code() -> Any:
    """Make a fresh linking code (valid 10 minutes)."""
    _guard()
    try:
        staff_wechat.new_code(current_staff().id)
    except DomainError as exc:
        flash(_said(exc), "error")
    return redirect(url_for("admin.compose.wechat"), 303)


@bp.post("/wechat/unlink")
def wechat_unlink() -> Any:
    """Forget the linked WeChat."""
    _guard()
    staff_wechat.unlink(current_staff().id, ip=client_ip())
    flash(gettext("Your WeChat is no longer linked."), "success")
    return redirect(url_for("admin.compose.wechat"), 303)
