"""Message catalogs: Chinese by default, English available (Flask-Babel)."""

from __future__ import annotations

from flask import Flask, g, request, session
from flask_babel import Babel

from scrm import ROOT

LANGUAGES = ("zh", "en")


def select_locale() -> str:
    """The language for this request: an explicit choice, the staff member's, then the default."""
    forced = getattr(g, "locale", None)
    if forced in LANGUAGES:
        return str(forced)
    chosen = session.get("lang") if request else None
    if chosen in LANGUAGES:
        return str(chosen)
    from flask import current_app

    return str(current_app.extensions["scrm.settings"].app.default_language)


def init_i18n(app: Flask) -> None:
    """Attach Flask-Babel with our catalogs and locale selector."""
    from scrm.catalogs import build

    build()
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(ROOT / "translations")
    app.config["BABEL_DEFAULT_LOCALE"] = app.extensions["scrm.settings"].app.default_language
    Babel(app, locale_selector=select_locale)
