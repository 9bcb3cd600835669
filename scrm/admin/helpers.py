"""Small things every admin view uses: labels, time formatting, turning domain errors into HTTP."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from flask import abort, current_app, flash, url_for
from flask_babel import gettext, lazy_gettext

from scrm import runtime
from scrm.services.errors import DomainError, Forbidden, NotFound

ROLE_LABELS = {
    "brand_admin": lazy_gettext("Brand admin"),
    "dealer_manager": lazy_gettext("Dealer manager"),
    "dealer_staff": lazy_gettext("Dealer staff"),
}
SCENE_LABELS = {
    "dealer": lazy_gettext("Dealer QR"),
    "staff": lazy_gettext("Staff QR"),
    "referral": lazy_gettext("Referral"),
    "event": lazy_gettext("Event"),
    "bind": lazy_gettext("Binding QR code"),
    "other": lazy_gettext("Other"),
    "none": lazy_gettext("No scene"),
}
MATCH_LABELS = {"exact": lazy_gettext("Exact match"), "contains": lazy_gettext("Contains")}
KIND_LABELS = {"text": lazy_gettext("Text"), "news": lazy_gettext("News card")}
MENU_TYPE_LABELS = {
    "click": lazy_gettext("Click: send a key to the bot"), "view": lazy_gettext("Open a web page"),
    "miniprogram": lazy_gettext("Open a mini program"), "scancode_push": lazy_gettext("Scan a code"),
    "scancode_waitmsg": lazy_gettext("Scan a code and wait for a reply"),
    "pic_sysphoto": lazy_gettext("Take a photo"), "pic_photo_or_album": lazy_gettext("Photo or album"),
    "pic_weixin": lazy_gettext("WeChat album"), "location_select": lazy_gettext("Send a location"),
    "media_id": lazy_gettext("Send a media item"), "view_limited": lazy_gettext("Open a media article"),
    "article_id": lazy_gettext("Send a published article"),
    "article_view_limited": lazy_gettext("Open a published article"),
}


def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time shown in the configured time zone ('—' when missing)."""
    if value is None:
        return "—"
    return value.astimezone(runtime.get().settings.app.tz).strftime(fmt)


def compact_json(value: Any) -> str:
    """JSON for people: Chinese stays readable (no \\u escapes)."""
    return json.dumps(value, ensure_ascii=False, default=str)


def dealer_name(dealer_id: int | None) -> str:
    """The name of a dealer ('' for none)."""
    if dealer_id is None:
        return ""
    from scrm import db
    from scrm.models import Dealer

    dealer = db.session.get(Dealer, dealer_id)
    return dealer.name if dealer else ""


def http_for(exc: DomainError) -> NoReturn:
    """Forbidden → 403, NotFound → 404; anything else is a programming error here."""
    if isinstance(exc, Forbidden):
        abort(403)
    if isinstance(exc, NotFound):
        abort(404)
    raise exc


def flash_domain_error(exc: DomainError) -> None:
    """Show a service's refusal as an error message."""
    flash(gettext(exc.message, **exc.params) if exc.params else gettext(exc.message), "error")


def static_url(filename: str) -> str:
    """A static file URL with a version that changes when the file does (long browser caching is safe)."""
    folder = Path(current_app.static_folder or "")
    try:
        version = int((folder / filename).stat().st_mtime)
    except OSError:
        version = 0
    return url_for("static", filename=filename, v=version)


def template_globals() -> dict[str, Any]:
    """Names every admin template may use."""
    return {"ROLE_LABELS": ROLE_LABELS, "SCENE_LABELS": SCENE_LABELS, "MATCH_LABELS": MATCH_LABELS,
            "KIND_LABELS": KIND_LABELS, "MENU_TYPE_LABELS": MENU_TYPE_LABELS, "static_url": static_url}
