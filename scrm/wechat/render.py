"""Render the bot's words from templates/replies/ in the account's language.

One Jinja environment per language, created once per process with its catalog installed, so templates
are compiled once and `_()` resolves without a request or app context (handlers run in worker threads).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from scrm import ROOT

logger = logging.getLogger(__name__)
REPLIES_DIR = ROOT / "templates" / "replies"
_lock = threading.Lock()
_envs: dict[str, Environment] = {}
_translations: dict[str, NullTranslations] = {}


def translations(language: str) -> NullTranslations:
    """The compiled catalog for `language` (English msgids need none)."""
    cached = _translations.get(language)
    if cached is None:
        if language == "en":
            cached = NullTranslations()
        else:
            from scrm.catalogs import build

            try:
                build()  # compile the .po parts if the .mo is missing or stale (a fresh checkout)
            except OSError:
                logger.warning("could not rebuild the catalogs; using the compiled ones", exc_info=True)
            cached = Translations.load(str(ROOT / "translations"), [language], domain="messages")
        _translations[language] = cached
    return cached


def environment(language: str) -> Environment:
    """The reply-template environment for `language`."""
    env = _envs.get(language)
    if env is not None:
        return env
    with _lock:
        env = _envs.get(language)
        if env is None:
            # Plain-text chat replies: HTML escaping would show "&lt;" to followers; the XML layer
            # escapes everything (replies.cdata).
            env = Environment(loader=FileSystemLoader(str(REPLIES_DIR)), autoescape=False,  # noqa: S701
                              extensions=["jinja2.ext.i18n"], undefined=StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, auto_reload=False)
            env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
            _envs[language] = env
    return env


def render(language: str, template: str, **context: Any) -> str:
    """The text of reply template `template` (e.g. "common/help.txt"), whitespace-trimmed."""
    return environment(language).get_template(template).render(**context).strip()


def translator(language: str) -> Callable[..., str]:
    """A `_` for code outside templates: `_ = translator("zh"); _("Hello %(name)s", name=...)`."""
    catalog = translations(language)

    def _(message: str, **params: Any) -> str:
        text = catalog.gettext(message)
        return text % params if params else text

    return _


def reset() -> None:
    """Forget compiled environments and catalogs (after the catalogs are rebuilt)."""
    with _lock:
        _envs.clear()
        _translations.clear()
