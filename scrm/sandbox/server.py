"""`scrm sandbox`: the offline WeChat (fake API and phone simulator) served on its own."""

from __future__ import annotations

import logging

from flask import Flask

from scrm.config import Settings

log = logging.getLogger(__name__)


def create_sandbox_app(settings: Settings) -> Flask:
    """A small Flask app with only the sandbox's routes (the runtime must already be initialised)."""
    from scrm import ROOT, db, runtime
    from scrm.i18n import init_i18n
    from scrm.sandbox import init_sandbox

    app = Flask("scrm.sandbox", template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "scrm" / "static"))
    app.config.update(SECRET_KEY=settings.app.secret_key, SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_NAME="scrm_sandbox_session",
                      MAX_CONTENT_LENGTH=4 * 1024 * 1024)
    app.extensions["scrm.settings"] = settings
    app.extensions["scrm.runtime"] = runtime.get()
    init_i18n(app)
    init_sandbox(app)

    @app.teardown_appcontext
    def _remove_session(_exc: BaseException | None) -> None:
        db.session.remove()

    return app


def run_standalone(settings: Settings, host: str, port: int) -> None:
    """Serve the sandbox until interrupted; pushes go to `[sandbox] webhook_base_url` (else public_url)."""
    from werkzeug.serving import run_simple

    from scrm import runtime

    runtime.init(settings)
    app = create_sandbox_app(settings)
    target = settings.sandbox.webhook_base_url or settings.app.public_url
    print(f"WeChat sandbox on http://{host}:{port}/sandbox/phone/  (fake API at /sandbox/wx, "
          f"webhook pushes to {target.rstrip('/')}/wechat/<slug>)", flush=True)
    for acc in settings.accounts.values():
        if not acc.api_base_url.startswith(f"http://{host}:{port}"):
            log.warning("account %s calls %s, not this sandbox", acc.slug, acc.api_base_url)
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
