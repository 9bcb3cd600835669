"""Keyword auto-replies: list, create, edit with preview, enable/disable, delete with confirmation."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from scrm.admin import nav
from scrm.admin.auth import client_ip, safe_next
from scrm.admin.forms import ConfirmForm, KeywordForm, parse_int
from scrm.admin.helpers import http_for
from scrm.admin.scoping import current_scope, current_staff
from scrm.models import KeywordReply
from scrm.services import keyword_admin as svc
from scrm.services.errors import DomainError, Forbidden, NotFound
from scrm.services.paging import clamp_page
from scrm.services.scope import Perm, Scope
from scrm.services.validation import FormInvalid

bp = Blueprint("keywords", __name__, url_prefix="/keywords")
nav.add_item(nav.NavItem("content", "admin.keywords.index", "Keyword replies", order=10,
                         active_prefixes=("admin.keywords.",)))


def _load(keyword_id: int) -> KeywordReply:
    try:
        return svc.get_keyword(current_scope(), keyword_id)
    except NotFound as exc:
        http_for(exc)


@bp.get("/")
def index() -> str:
    """Replies in scope, with search and filters."""
    scope = current_scope()
    args = request.args
    dealers = svc.dealer_choices(scope)
    dealer = parse_int(args.get("dealer")) if scope.all_dealers else None
    if dealer not in (None, 0) and dealer not in {d.id for d in dealers}:
        dealer = None
    enabled = {"on": True, "off": False}.get(args.get("state", ""))
    flt = svc.KeywordFilter(q=args.get("q", "").strip()[:60], dealer=dealer, enabled=enabled)
    page = svc.list_keywords(scope, flt, clamp_page(args.get("page")))
    query = {k: v for k, v in {"q": flt.q, "dealer": "" if dealer is None else dealer,
                               "state": args.get("state", "")}.items() if v != ""}
    return render_template("admin/keywords/list.html", page=page, flt=flt, dealers=dealers, query=query,
                           state=args.get("state", ""), dealer_names={d.id: d.name for d in dealers},
                           can_create=scope.can(Perm.KEYWORDS_EDIT),
                           editable={k.id for k in page.items if svc.can_edit(scope, k.dealer_id)},
                           confirm=ConfirmForm())


def _prepare(form: KeywordForm, scope: Scope) -> None:
    """Dealer choices: a brand admin picks account-wide or a dealer; dealer roles have no choice."""
    choices: list[tuple[str, str]] = [("", gettext("Account-wide (every dealer)"))]
    choices += [(str(d.id), f"{d.name} ({d.code})") for d in svc.dealer_choices(scope)]
    form.dealer_id.choices = choices


def _submit(form: KeywordForm, row: KeywordReply | None) -> Any:
    """Preview or save the submitted form; re-render it with problems next to the fields."""
    scope, staff = current_scope(), current_staff()
    data = form.to_input(scope.dealer_id, scope.all_dealers)
    preview = None
    if form.validate_on_submit():
        if request.form.get("action") == "preview":
            preview = svc.preview(scope, data)
        else:
            try:
                if row is None:
                    saved = svc.create_keyword(staff, data, client_ip())
                    flash(gettext("Keyword reply “%(keyword)s” created.", keyword=saved.keyword), "success")
                else:
                    saved = svc.update_keyword(staff, row.id, data, client_ip())
                    flash(gettext("Keyword reply “%(keyword)s” saved.", keyword=saved.keyword), "success")
                return redirect(url_for(".index"), 303)
            except FormInvalid as exc:
                form.show_problems(exc)
            except (Forbidden, NotFound) as exc:
                http_for(exc)
    status = 422 if form.has_errors else 200
    return render_template("admin/keywords/form.html", form=form, row=row, preview=preview,
                           can_choose_dealer=scope.all_dealers), status


@bp.route("/new", methods=["GET", "POST"])
def create() -> Any:
    """A new reply."""
    scope = current_scope()
    if not scope.can(Perm.KEYWORDS_EDIT):
        http_for(Forbidden())
    form = KeywordForm()
    _prepare(form, scope)
    if request.method == "GET":
        form.dealer_id.data = "" if scope.all_dealers else str(scope.dealer_id)
        return render_template("admin/keywords/form.html", form=form, row=None, preview=None,
                               can_choose_dealer=scope.all_dealers)
    return _submit(form, None)


@bp.route("/<int:keyword_id>/edit", methods=["GET", "POST"])
def edit(keyword_id: int) -> Any:
    """Edit a reply (read-only for those who may not change it)."""
    scope = current_scope()
    row = _load(keyword_id)
    if not svc.can_edit(scope, row.dealer_id):
        preview = svc.preview(scope, _input_of(row))
        return render_template("admin/keywords/view.html", row=row, preview=preview), (
            200 if request.method == "GET" else 403)
    form = KeywordForm(obj=None if request.method == "POST" else row)
    _prepare(form, scope)
    if request.method == "GET":
        form.match.data, form.kind.data = row.match.value, row.kind.value
        form.priority.data = str(row.priority)
        form.dealer_id.data = "" if row.dealer_id is None else str(row.dealer_id)
        return render_template("admin/keywords/form.html", form=form, row=row, preview=None,
                               can_choose_dealer=scope.all_dealers)
    return _submit(form, row)


def _input_of(row: KeywordReply) -> svc.KeywordInput:
    return svc.KeywordInput(keyword=row.keyword, match=row.match.value, kind=row.kind.value, text=row.text,
                            news_title=row.news_title, news_description=row.news_description,
                            news_url=row.news_url, news_pic_url=row.news_pic_url, priority=row.priority,
                            dealer_id=row.dealer_id, enabled=row.enabled)


@bp.post("/<int:keyword_id>/toggle")
def toggle(keyword_id: int) -> Response:
    """Enable or disable a reply."""
    enable = request.form.get("enabled") == "1"
    try:
        row = svc.set_enabled(current_staff(), keyword_id, enable, client_ip())
    except DomainError as exc:
        http_for(exc)
    if enable:
        flash(gettext("Keyword reply “%(keyword)s” enabled.", keyword=row.keyword), "success")
    else:
        flash(gettext("Keyword reply “%(keyword)s” disabled.", keyword=row.keyword), "success")
    return redirect(safe_next(request.form.get("next"), url_for(".index")), 303)


@bp.route("/<int:keyword_id>/delete", methods=["GET", "POST"])
def delete(keyword_id: int) -> Any:
    """Ask, then delete."""
    scope = current_scope()
    row = _load(keyword_id)
    if not svc.can_edit(scope, row.dealer_id):
        http_for(Forbidden())
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            svc.delete_keyword(current_staff(), keyword_id, client_ip())
        except DomainError as exc:
            http_for(exc)
        flash(gettext("Keyword reply “%(keyword)s” deleted.", keyword=row.keyword), "success")
        return redirect(url_for(".index"), 303)
    return render_template("admin/keywords/delete.html", row=row, form=form)
