"""The cookie session, skipped for the machine-to-machine paths that carry no cookie and need none.

WeChat's pushes (`/wechat/`) and the sandbox's fake WeChat API (`/sandbox/wx/`) are called by servers:
opening a signed cookie session for them (a serializer built, a cookie looked for) is work on every call.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class CookieSessions(SecureCookieSessionInterface):
    """Flask's cookie session, except under the registered path prefixes (a null session there)."""

    def __init__(self) -> None:
        self.skipped: tuple[str, ...] = ()

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        """A null session under a skipped prefix; otherwise Flask's."""
        if self.skipped and request.path.startswith(self.skipped):
            return self.make_null_session(app)
        return super().open_session(app, request)


def skip_sessions(app: Flask, prefix: str) -> None:
    """No cookie session for requests whose path starts with `prefix` (another interface installed: left alone)."""
    if type(app.session_interface) is SecureCookieSessionInterface:
        app.session_interface = CookieSessions()
    if isinstance(app.session_interface, CookieSessions) and prefix not in app.session_interface.skipped:
        app.session_interface.skipped += (prefix,)
