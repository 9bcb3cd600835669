"""Staff pages under /admin: blueprints, CSRF, sign-in checks, error pages and security headers."""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, g, render_template, request
from flask_babel import get_locale
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response

from scrm.admin import helpers, nav
from scrm.admin.auth import bp

# The admin pages, each a module exporting `bp`; a later page adds its module here.
PAGES = (
    "scrm.admin.views_dashboard",
    "scrm.admin.views_followers",
    "scrm.admin.views_customers",
    "scrm.admin.views_keywords",
    "scrm.admin.views_menu",
    "scrm.admin.views_account",
    "scrm.admin.views_staff",
    "scrm.admin.views_audit",
    "scrm.admin.views_imports",
    "scrm.admin.views_api_keys",
    "scrm.admin.views_quality",
    "scrm.admin.views_binding",
    "scrm.admin.views_privacy",
    "scrm.admin.views_bookings",
    "scrm.admin.views_booking_setup",
    "scrm.admin.views_loyalty_rules",
    "scrm.admin.views_members",
    "scrm.admin.views_badges",
    "scrm.admin.views_rewards",
    "scrm.admin.views_club",
    "scrm.admin.views_referrals",
    "scrm.admin.views_segments",
    "scrm.admin.views_campaigns",
    "scrm.admin.views_journeys",
    "scrm.admin.views_compose",
    "scrm.admin.views_analytics",
    "scrm.admin.views_tasks",
    "scrm.admin.views_leads",
)
ERROR_CODES = (400, 401, 403, 404, 405, 413, 429, 500)
_pages_registered = False


def _register_pages() -> None:
    """Nest every page blueprint under the admin blueprint (once per process)."""
    global _pages_registered
    if _pages_registered:
        return
    for module in PAGES:
        bp.register_blueprint(importlib.import_module(module).bp)
    for code in ERROR_CODES:
        bp.register_error_handler(code, _admin_error)
    bp.register_error_handler(CSRFError, _admin_error)
    _pages_registered = True


def init_admin(app: Flask) -> None:
    """Register the admin blueprints, CSRF protection, error pages and security headers."""
    csrf = CSRFProtect(app)
    app.extensions["csrf"] = csrf
    # Machine endpoints: the health checks are read-only; WeChat's pushes (signed by WeChat) are answered by
    # the webhook's WSGI lane in front of Flask and never reach the CSRF check.
    if "health" in app.blueprints:
        csrf.exempt(app.blueprints["health"])
    _register_pages()
    app.register_blueprint(bp)
    img_origins = _image_origins(app)

    @app.context_processor
    def _admin_context() -> dict[str, Any]:
        if not request.path.startswith("/admin"):
            return {}
        scope = g.get("scope")
        staff = g.get("staff")
        return {**helpers.template_globals(), "staff": staff, "scope": scope,
                "current_dealer_name": helpers.dealer_name(staff.dealer_id if staff else None),
                "nav": nav.build(scope) if scope is not None else [], "page_title": nav.title_for_endpoint(),
                "lang": str(get_locale() or "zh")}

    app.add_template_filter(helpers.localtime, "localtime")
    app.add_template_filter(helpers.compact_json, "compact_json")

    @app.after_request
    def _security_headers(response: Response) -> Response:
        if request.path.startswith("/admin"):
            _add_headers(response, img_origins)
        return response

    app.register_error_handler(404, _unmatched)
    app.register_error_handler(405, _unmatched)


def _image_origins(app: Flask) -> str:
    """QR images come from WeChat's image host, or from the sandbox when an account points there."""
    origins = {"https://mp.weixin.qq.com"}
    for account in app.extensions["scrm.settings"].accounts.values():
        if account.is_sandbox:
            parts = urlsplit(account.api_base_url)
            origins.add(f"{parts.scheme}://{parts.netloc}")
    return " ".join(sorted(origins))


def _add_headers(response: Response, img_origins: str) -> None:
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data: {img_origins}; font-src 'self'; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")


def _admin_error(exc: Exception) -> tuple[str, int]:
    """A friendly page in the admin layout for every error under /admin."""
    if isinstance(exc, CSRFError):
        code = 400
    elif isinstance(exc, HTTPException):
        code = exc.code or 500
    else:  # an unexpected exception (Flask passes it here after logging it)
        code = InternalServerError.code
    return render_template("admin/error.html", code=code, csrf=isinstance(exc, CSRFError)), code


def _unmatched(exc: HTTPException) -> Any:
    """Unknown /admin URLs get the admin error page; everything else keeps Flask's default."""
    if request.path.startswith("/api/"):  # the dealer-system API answers in JSON, even for unknown URLs
        from scrm.api.errors import http_error

        return http_error(exc)
    if request.path.startswith("/admin"):
        g.staff = None
        g.scope = None
        return _admin_error(exc)
    return exc
