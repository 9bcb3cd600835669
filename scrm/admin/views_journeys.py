"""Journeys in the admin: a dealer's eight built-in journeys, switched on and off, worded step by step."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext

from scrm.admin import compose_form, nav
from scrm.admin.auth import require_perm
from scrm.admin.forms import ConfirmForm
from scrm.admin.helpers import dealer_name, flash_domain_error, http_for, localtime
from scrm.admin.scoping import current_scope, pick_dealer
from scrm.services import journeys as svc
from scrm.services.compose_admin import templates_in_scope
from scrm.services.errors import DomainError, Forbidden, Invalid, NotFound
from scrm.services.scope import Perm

bp = Blueprint("journeys", __name__, url_prefix="/journeys")
nav.add_group("marketing", "Marketing", 26)
nav.add_item(nav.NavItem("marketing", "admin.journeys.index", "Journeys", order=30,
                         active_prefixes=("admin.journeys.",)))

CHANNELS = ("auto", "custom", "template")
CHANNEL_LABELS = {
    "auto": lazy_gettext("Automatic: a customer-service message inside the 48-hour window, a template message "
                         "otherwise"),
    "custom": lazy_gettext("Customer-service message only (followers outside the 48-hour window are skipped)"),
    "template": lazy_gettext("Template message only"),
}
EXIT_LABELS = {
    "completed": lazy_gettext("Got every step"), "booked": lazy_gettext("Booked or visited"),
    "renewed": lazy_gettext("Insurance renewed"), "bought": lazy_gettext("Bought a car"),
    "returned": lazy_gettext("Came back"),
}
_SPLIT = re.compile(r"[\s,，、;；]+")


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {"CHANNEL_LABELS": CHANNEL_LABELS, "EXIT_LABELS": EXIT_LABELS, "localtime": localtime}


@dataclass
class EditState:
    """What the edit form shows: stored values, or what was posted when saving failed."""

    enabled: bool
    channel: str
    settings: dict[str, str]
    messages: dict[str, dict[str, Any]]
    error: str = ""
    error_field: str = ""
    step_errors: dict[str, tuple[str, str]] = field(default_factory=dict)   # step -> (form field, message)
    setting_errors: dict[str, str] = field(default_factory=dict)


def _channel(journey: Any) -> str:
    return str(getattr(journey.channel, "value", journey.channel) or "auto")


def _setting_text(kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "dates" and isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _stored(journey: Any, definition: Any) -> EditState:
    saved = journey.settings or {}
    settings = {sd.key: _setting_text(sd.kind, saved.get(sd.key, sd.default)) for sd in definition.settings}
    messages = {str(st.get("key")): st.get("message") or {} for st in (journey.steps or []) if isinstance(st, dict)}
    return EditState(enabled=bool(journey.enabled), channel=_channel(journey), settings=settings, messages=messages)


def _posted(definition: Any) -> EditState:
    form = request.form
    channel = form.get("channel", "auto")
    settings = {sd.key: form.get(f"setting_{sd.key}", "").strip() for sd in definition.settings}
    messages = {st.key: compose_form.parse(form, f"s_{st.key}_") for st in definition.steps}
    return EditState(enabled=form.get("enabled") == "y", channel=channel if channel in CHANNELS else "auto",
                     settings=settings, messages=messages)


def _setting_value(kind: str, raw: str) -> Any:
    """Dates typed as "MM-DD, MM-DD" (any separator) become a list; the service checks every value."""
    return [part for part in _SPLIT.split(raw) if part] if kind == "dates" else raw


def _message(exc: DomainError) -> str:
    return gettext(exc.message, **exc.params) if exc.params else gettext(exc.message)


def _place_error(state: EditState, definition: Any, exc: Invalid) -> None:
    text, name = _message(exc), exc.field or ""
    for st in definition.steps:
        prefix = f"s_{st.key}_"
        if name.startswith(prefix):
            state.step_errors[st.key] = (compose_form.field_name(prefix, name[len(prefix):]), text)
            return
    if name.startswith("setting_") and name[len("setting_"):] in state.settings:
        state.setting_errors[name[len("setting_"):]] = text
        return
    state.error, state.error_field = text, name


def _load(journey_id: int) -> tuple[Any, Any]:
    try:
        return svc.get(current_scope(), journey_id)
    except (NotFound, Forbidden) as exc:
        http_for(exc)


def _dealer_query(journey: Any) -> dict[str, Any]:
    return {"dealer": journey.dealer_id} if current_scope().all_dealers else {}


def _render_edit(journey: Any, definition: Any, state: EditState, status: int = 200) -> Any:
    scope = current_scope()
    return render_template(
        "admin/journeys/edit.html", journey=journey, definition=definition, state=state,
        stats=svc.stats(scope, journey.id), enrolments=svc.recent_enrolments(scope, journey.id),
        templates=templates_in_scope(scope), can_edit=scope.can(Perm.JOURNEYS_EDIT),
        dealer=dealer_name(journey.dealer_id), back=_dealer_query(journey), form=ConfirmForm(formdata=None)), status


@bp.get("/")
def index() -> Any:
    """The chosen dealer's eight journeys as cards, with their figures and on/off switches."""
    dealer_id, dealers = pick_dealer()
    scope = current_scope()
    rows = svc.listing(scope, dealer_id)
    return render_template("admin/journeys/list.html", rows=rows, dealers=dealers, dealer_id=dealer_id,
                           can_edit=scope.can(Perm.JOURNEYS_EDIT), form=ConfirmForm(formdata=None))


@bp.post("/<int:journey_id>/enabled")
@require_perm(Perm.JOURNEYS_EDIT)
def set_enabled(journey_id: int) -> Any:
    """Switch a journey on or off (audited)."""
    journey, definition = _load(journey_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    on = request.form.get("enabled") == "1"
    try:
        journey = svc.set_enabled(current_scope(), journey_id, on)
    except (NotFound, Forbidden) as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
    else:
        label = gettext(definition.label)
        flash(gettext("“%(name)s” is on.", name=label) if on else gettext("“%(name)s” is off.", name=label),
              "success")
    return redirect(url_for(".index", **_dealer_query(journey)), 303)


@bp.get("/<int:journey_id>")
def edit(journey_id: int) -> Any:
    """One journey: its settings, each step's wording, its figures and its latest enrolments."""
    journey, definition = _load(journey_id)
    return _render_edit(journey, definition, _stored(journey, definition))


@bp.post("/<int:journey_id>")
@require_perm(Perm.JOURNEYS_EDIT)
def save(journey_id: int) -> Any:
    """Save the journey; a problem is shown where it is, and nothing is saved."""
    journey, definition = _load(journey_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    state = _posted(definition)
    try:
        settings = {sd.key: _setting_value(sd.kind, state.settings[sd.key]) for sd in definition.settings}
        svc.update(current_scope(), journey_id, enabled=state.enabled, channel=state.channel, settings=settings,
                   steps=state.messages)
    except Invalid as exc:
        _place_error(state, definition, exc)
        return _render_edit(journey, definition, state, 422)
    except (NotFound, Forbidden) as exc:
        http_for(exc)
    flash(gettext("Journey saved."), "success")
    return redirect(url_for(".edit", journey_id=journey_id), 303)
