"""Offline WeChat: a fake API at /sandbox/wx that enforces WeChat's rules, and a phone simulator."""

from __future__ import annotations

import importlib

from flask import Flask

from scrm.sessions import skip_sessions

# Each module adds its routes to the shared blueprint when imported.
API_MODULES = ("api_token", "api_message", "api_menu", "api_user", "api_qrcode", "api_oauth", "api_mass")


def init_sandbox(app: Flask) -> None:
    """Mount the fake WeChat API and the phone simulator."""
    from scrm.sandbox.api_common import bp as api_bp
    from scrm.sandbox.phone import bp as phone_bp

    for name in API_MODULES:
        importlib.import_module(f"scrm.sandbox.{name}")
    app.register_blueprint(api_bp)
    app.register_blueprint(phone_bp)
    skip_sessions(app, "/sandbox/wx/")   # the fake API is called by servers, with no cookie
    csrf = app.extensions.get("csrf")
    if csrf is not None:  # the fake API speaks JSON to servers; the phone API checks its origin itself
        csrf.exempt(api_bp)
        csrf.exempt(phone_bp)
