"""Segments: the list, the builder (AND/OR groups, live count, sample), saving and archiving."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext
from wtforms import HiddenField, StringField, TextAreaField

from scrm.admin import nav
from scrm.admin.auth import client_ip, require_perm
from scrm.admin.forms import STRIP, AdminForm, ChoiceField, ConfirmForm, parse_int
from scrm.admin.helpers import http_for
from scrm.admin.scoping import current_scope
from scrm.models import Segment
from scrm.services import segments as svc
from scrm.services import segments_admin
from scrm.services.club_admin import tiers
from scrm.services.errors import DomainError, Forbidden, Invalid, NotFound
from scrm.services.keyword_admin import dealer_choices
from scrm.services.scope import Perm
from scrm.services.segment_fields import NO_VALUE, OP_LABELS, field

bp = Blueprint("segments", __name__, url_prefix="/segments")
nav.add_group("marketing", "Marketing", 26)
nav.add_item(nav.NavItem("marketing", "admin.segments.index", "Segments", 10, active_prefixes=("admin.segments.",)))


class SegmentForm(AdminForm):
    name = StringField("Name", filters=STRIP)
    description = TextAreaField("Description", filters=STRIP)
    dealer_id = ChoiceField("Dealer")
    definition = HiddenField("Conditions")


def problem(exc: DomainError) -> str:
    """A service refusal in words; a definition problem names its field by its translated label."""
    params = dict(exc.params)
    key = params.pop("field_key", None)
    if key is not None:
        f = field(str(key))
        params["field"] = gettext(f.label) if f is not None else str(key)
    return gettext(exc.message, **params) if params else gettext(exc.message)


def _dealers() -> dict[int, str]:
    return {d.id: d.name for d in dealer_choices(current_scope())}


def _value_words(f_key: str, value: Any, names: dict[str, dict[str, str]]) -> str:
    f = field(f_key)
    known = names.get(f.choices, {}) if f is not None else {}
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, list):
        return "、".join(known.get(str(v), str(v)) for v in value)
    return str(value)


def _rule_words(rule: dict[str, Any], names: dict[str, dict[str, str]]) -> str:
    f = field(str(rule.get("field")))
    if f is None:
        return "?"
    op, value = str(rule.get("op")), rule.get("value")
    unit = " " + gettext(f.unit) if f.unit and op not in NO_VALUE else ""
    if op in ("within_last_days", "not_within_last_days", "within_next_days"):
        return f"{gettext(f.label)} {gettext(OP_LABELS[op]).replace('N', str(value))}"
    if op == "between" and isinstance(value, list) and len(value) == 2:
        words = f"{value[0]} – {value[1]}"
    else:
        words = "" if op in NO_VALUE else _value_words(f.key, value, names)
    text = " ".join(p for p in (gettext(f.label), gettext(OP_LABELS.get(op, op)), words + unit) if p.strip())
    if rule.get("days"):
        text += " " + gettext("(in the last %(n)s days)", n=rule["days"])
    return text


def describe(node: Any, names: dict[str, dict[str, str]]) -> str:
    """A definition in words: "City is 上海 and (Tags has any of VIP or Mileage at least 20000 km)"."""
    if not isinstance(node, dict) or not isinstance(node.get("rules"), list):
        return ""
    joiner = gettext(" and ") if node.get("match", "all") == "all" else gettext(" or ")
    parts = [f"({describe(r, names)})" if isinstance(r, dict) and "rules" in r else _rule_words(r, names)
             for r in node["rules"] if isinstance(r, dict)]
    return joiner.join(parts)


def _names() -> dict[str, dict[str, str]]:
    scope = current_scope()
    out: dict[str, dict[str, str]] = {
        "stage": {k: gettext(v) for k, v in segments_admin.STAGE_LABELS.items()},
        "gender": {k: gettext(v) for k, v in segments_admin.GENDER_LABELS.items()},
        "dealer": {str(k): v for k, v in _dealers().items()},
    }
    out["tier"] = {t.code: t.name for t in tiers(scope.account_id)}
    return out


def _translate(item: dict[str, Any], *keys: str) -> None:
    for key in keys:
        msgid = item[key]
        item[key] = gettext(msgid) if msgid else ""


def _builder_choices() -> dict[str, Any]:
    """The builder's choices with every label translated (tier and dealer names are data, not msgids)."""
    data = segments_admin.choices(current_scope())
    for f in data["fields"]:
        _translate(f, "label", "unit")
        for op in f["ops"]:
            _translate(op, "label")
    for key in ("stage", "gender"):
        for v in data["values"][key]:
            _translate(v, "label")
    return data


def _words() -> dict[str, str]:
    return {"all": gettext("all"), "any": gettext("any"), "match": gettext("Match"),
            "of": gettext("of these conditions"), "add_rule": gettext("Add condition"),
            "add_group": gettext("Add group"), "remove": gettext("Remove"), "days": gettext("days"),
            "in_last": gettext("in the last"), "optional": gettext("optional"), "yes": gettext("yes"),
            "no": gettext("no"), "and": gettext("and"), "value": gettext("Value"), "field": gettext("Field"),
            "op": gettext("Condition"), "add_value": gettext("Type a value and press Enter"),
            "empty_group": gettext("No conditions in this group yet."), "counting": gettext("Counting…"),
            "failed": gettext("The count failed. Try again."), "no_rows": gettext("Nobody matches yet."),
            "bound": gettext("Bound"), "subscribed": gettext("Follows"), "no_name": gettext("(no name)"),
            "follower_only": gettext("Follower without a customer record")}


def _render(form: SegmentForm, seg: Segment | None, status: int = 200) -> Any:
    scope = current_scope()
    choices = [(str(d), n) for d, n in _dealers().items()]
    form.dealer_id.choices = [("", gettext("All dealers (account-wide)")), *choices]
    return render_template("admin/segments/form.html", form=form, seg=seg, choices=_builder_choices(),
                           words=_words(), brand=scope.all_dealers), status


def _load(segment_id: int) -> Segment:
    try:
        return svc.get(current_scope(), segment_id)
    except (NotFound, Forbidden) as exc:
        http_for(exc)


@bp.get("/")
def index() -> Any:
    """The segments in scope with their conditions in words and last count."""
    scope = current_scope()
    items = svc.listing(scope)
    names = _names()
    words = {it.segment.id: describe(it.segment.definition, names) for it in items}
    return render_template("admin/segments/list.html", items=items, words=words,
                           can_edit=scope.can(Perm.SEGMENTS_EDIT), may_edit=lambda s: svc.may_edit(scope, s))


@bp.get("/new")
@require_perm(Perm.SEGMENTS_EDIT)
def new() -> Any:
    """An empty builder."""
    form = SegmentForm(formdata=None, data={"definition": json.dumps({"match": "all", "rules": []})})
    return _render(form, None)


def _definition(form: SegmentForm) -> Any:
    try:
        return json.loads(form.definition.data or "")
    except ValueError:
        raise Invalid("The segment definition is not valid.", field="definition") from None


def _save(segment_id: int | None) -> Any:
    seg = _load(segment_id) if segment_id is not None else None
    form = SegmentForm()
    if not form.validate_on_submit():
        return _render(form, seg, 400)
    scope = current_scope()
    name, description = form.name.data or "", form.description.data or ""
    dealer_id = parse_int(form.dealer_id.data)
    try:
        definition = _definition(form)
        if segment_id is None:
            saved = svc.create(scope, name=name, description=description, dealer_id=dealer_id,
                               definition=definition, ip=client_ip())
        else:
            saved = svc.update(scope, segment_id, name=name, description=description, dealer_id=dealer_id,
                               definition=definition, ip=client_ip())
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    except Invalid as exc:
        target = exc.field if exc.field in ("name", "description", "dealer_id") else "definition"
        getattr(form, target).errors = [problem(exc)]
        return _render(form, seg, 422)
    flash(gettext("Segment “%(name)s” saved.", name=saved.name), "success")
    return redirect(url_for(".show", segment_id=saved.id), 303)


@bp.post("/new")
@require_perm(Perm.SEGMENTS_EDIT)
def create() -> Any:
    """Save a new segment."""
    return _save(None)


@bp.get("/<int:segment_id>")
def show(segment_id: int) -> Any:
    """The builder for a segment the user may edit; its conditions in words otherwise."""
    seg = _load(segment_id)
    scope = current_scope()
    if svc.may_edit(scope, seg):
        form = SegmentForm(formdata=None, data={
            "name": seg.name, "description": seg.description, "dealer_id": str(seg.dealer_id or ""),
            "definition": json.dumps(seg.definition, ensure_ascii=False)})
        return _render(form, seg)
    return render_template("admin/segments/show.html", seg=seg, words=describe(seg.definition, _names()),
                           dealer=_dealers().get(seg.dealer_id or 0, ""), builder_words=_words())


@bp.post("/<int:segment_id>")
@require_perm(Perm.SEGMENTS_EDIT)
def update(segment_id: int) -> Any:
    """Save a segment's changes."""
    return _save(segment_id)


@bp.post("/<int:segment_id>/archive")
@require_perm(Perm.SEGMENTS_EDIT)
def archive(segment_id: int) -> Any:
    """Archive a segment (campaigns that used it keep it)."""
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for(".show", segment_id=segment_id), 303)
    try:
        seg = svc.archive(current_scope(), segment_id, client_ip())
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    flash(gettext("Segment “%(name)s” archived.", name=seg.name), "success")
    return redirect(url_for(".index"), 303)


def _json_body() -> tuple[Any, int | None, int | None]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid("The segment definition is not valid.", field="definition")
    dealer_id, segment_id = (parse_int(str(body.get(k) or "")) for k in ("dealer_id", "segment_id"))
    return body.get("definition"), dealer_id, segment_id


def _counts_json(counts: svc.Counts) -> dict[str, Any]:
    return {"ok": True, "contacts": counts.contacts, "customers": counts.customers, "followers": counts.followers,
            "reachable": counts.reachable}


def _rows_json(rows: list[segments_admin.SampleRow]) -> dict[str, Any]:
    names = _names()["stage"]
    return {"ok": True, "rows": [{
        "name": r.name, "phone": r.phone, "city": r.city, "stage": names.get(r.stage, r.stage), "model": r.model,
        "bound": r.bound, "subscribed": r.subscribed,
        "url": url_for("admin.customers.view", customer_id=r.customer_id) if r.customer_id else ""} for r in rows]}


def _refusal(exc: DomainError) -> Any:
    if isinstance(exc, Forbidden | NotFound):
        http_for(exc)
    return jsonify({"ok": False, "problem": problem(exc), "field": str(exc.params.get("field_key") or "")}), 422


@bp.post("/count")
@require_perm(Perm.SEGMENTS_EDIT)
def count() -> Any:
    """The live count of the builder's definition (JSON; the CSRF token comes in the X-CSRFToken header)."""
    try:
        definition, dealer_id, segment_id = _json_body()
        return jsonify(_counts_json(svc.count(current_scope(), definition, dealer_id, segment_id)))
    except DomainError as exc:
        return _refusal(exc)


@bp.post("/sample")
@require_perm(Perm.SEGMENTS_EDIT)
def sample() -> Any:
    """A sample of the builder's definition (JSON)."""
    try:
        definition, dealer_id, _ = _json_body()
        return jsonify(_rows_json(segments_admin.sample(current_scope(), definition, dealer_id)))
    except DomainError as exc:
        return _refusal(exc)


@bp.post("/<int:segment_id>/count")
def count_saved(segment_id: int) -> Any:
    """Count a saved segment now and remember the number (JSON)."""
    try:
        return jsonify(_counts_json(svc.count_saved(current_scope(), segment_id)))
    except DomainError as exc:
        return _refusal(exc)


@bp.post("/<int:segment_id>/sample")
def sample_saved(segment_id: int) -> Any:
    """A sample of a saved segment (JSON); phones are masked for staff who may not see them."""
    try:
        return jsonify(_rows_json(segments_admin.sample_saved(current_scope(), segment_id)))
    except DomainError as exc:
        return _refusal(exc)
