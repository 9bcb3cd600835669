"""Sign-in, sign-out, the language switch, and the checks every admin request passes.

`bp` is the parent blueprint of every admin page (`/admin`): its before-request hook loads the
signed-in staff user and sends everyone else to the login page, so a page added later is protected
by being registered under it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext
from werkzeug.exceptions import Forbidden
from werkzeug.wrappers import Response

from scrm import db
from scrm.admin.forms import LoginForm
from scrm.models import StaffUser
from scrm.services import staff as staff_service
from scrm.services.errors import DomainError
from scrm.services.scope import Perm, Scope

bp = Blueprint("admin", __name__, url_prefix="/admin")
PUBLIC_ENDPOINTS = frozenset({"admin.login", "admin.language"})
F = TypeVar("F", bound=Callable[..., Any])


def client_ip() -> str:
    """The caller's address as the WSGI server saw it (put ProxyFix in front when behind a proxy)."""
    return (request.remote_addr or "")[:64]


def safe_next(target: str | None, default: str) -> str:
    """Only same-site admin paths are followed after login or a language switch (no open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin") or target.startswith("//"):
        return default
    if "\\" in target:
        return default
    return target


def _load_staff() -> StaffUser | None:
    staff_id = session.get("staff_id")
    if not isinstance(staff_id, int):
        return None
    user = db.session.get(StaffUser, staff_id)
    if user is None or not user.active or session.get("fp") != staff_service.session_fingerprint(user):
        session.clear()  # deactivated, deleted or password reset: this session is over
        return None
    return user


@bp.before_request
def require_login() -> Response | None:
    """Load the staff user; anyone not signed in goes to the login page."""
    g.staff = _load_staff()
    g.scope = Scope.of(g.staff) if g.staff is not None else None
    if g.staff is None and request.endpoint not in PUBLIC_ENDPOINTS:
        if request.method == "GET":
            return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
        return redirect(url_for("admin.login"), 303)
    return None


def require_perm(perm: Perm) -> Callable[[F], F]:
    """View decorator: 403 unless the signed-in user's role has `perm`."""
    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if g.get("scope") is None or not g.scope.can(perm):
                raise Forbidden()
            return view(*args, **kwargs)
        return cast(F, wrapper)
    return decorate


def _start_session(user: StaffUser) -> None:
    lang = session.get("lang") if user.language not in ("zh", "en") else user.language
    session.clear()  # a fresh session on every sign-in: nothing from before survives (fixation)
    session.permanent = True
    session["staff_id"] = user.id
    session["fp"] = staff_service.session_fingerprint(user)
    if lang:
        session["lang"] = lang


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The sign-in form."""
    next_url = safe_next(request.values.get("next"), url_for("admin.dashboard.index"))
    if g.staff is not None and request.method == "GET":
        return redirect(next_url)
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = staff_service.authenticate(form.username.data or "", form.password.data or "", client_ip())
        except staff_service.LoginThrottled as exc:
            form.form_errors_extra.append(gettext(exc.message, **exc.params))
            status = 429
        except DomainError as exc:
            form.form_errors_extra.append(gettext(exc.message, **exc.params))
            status = 401
        else:
            _start_session(user)
            return redirect(next_url, 303)
    form.password.data = ""
    return render_template("admin/login.html", form=form, next=next_url), status


@bp.post("/logout")
def logout() -> Response:
    """Sign out (a POST with the CSRF token, so no other site can sign anyone out)."""
    staff_service.record_logout(g.staff, client_ip())
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(gettext("You have signed out."), "success")
    return redirect(url_for("admin.login"), 303)


@bp.post("/language")
def language() -> Response:
    """Switch between Chinese and English; remembered in the session and for the staff user."""
    lang = request.form.get("lang", "")
    back = safe_next(request.form.get("next"), url_for("admin.dashboard.index"))
    if lang not in staff_service.LANGUAGES:
        flash(gettext("Unknown language."), "error")
        return redirect(back, 303)
    session["lang"] = lang
    if g.staff is not None:
        staff_service.set_language(g.staff, lang, client_ip())
    return redirect(back, 303)
