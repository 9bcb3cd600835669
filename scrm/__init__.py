"""车主汇 SCRM: the application factory."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from scrm.config import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app for `settings` (loaded from SCRM_CONFIG when omitted)."""
    from scrm import runtime
    from scrm.i18n import init_i18n

    settings = settings or load_settings()
    rt = runtime.init(settings)
    app = Flask("scrm", template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "scrm" / "static"))
    app.config.update(
        SECRET_KEY=settings.app.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.app.secure_cookies,
        SESSION_COOKIE_NAME="scrm_session",
        PERMANENT_SESSION_LIFETIME=12 * 3600,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.extensions["scrm.settings"] = settings
    app.extensions["scrm.runtime"] = rt
    if settings.app.proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.app.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    init_i18n(app)
    _register(app, settings)

    from scrm import db

    @app.teardown_appcontext
    def _remove_session(_exc: BaseException | None) -> None:
        db.session.remove()

    return app


def _register(app: Flask, settings: Settings) -> None:
    from scrm.admin import init_admin
    from scrm.h5 import bp as h5_bp
    from scrm.h5.track import bp as track_bp
    from scrm.health import bp as health_bp
    from scrm.wechat import webhook

    app.register_blueprint(health_bp)
    webhook.install(app)
    app.register_blueprint(h5_bp)
    app.register_blueprint(track_bp)
    init_admin(app)
    from scrm.api import init_api

    init_api(app)
    # Feature services that subscribe to domain events, register merge movers and audit labels on import.
    import scrm.services.booking  # noqa: F401
    from scrm.services import (  # noqa: F401
        badges,
        booking_notify,
        booking_notify_rating,
        campaign_render,
        journey_render,
        journeys,
        loyalty_earning,
        loyalty_notify,
        task_rules,
        tiers,
    )

    if settings.sandbox.enabled:
        from scrm.sandbox import init_sandbox

        init_sandbox(app)
