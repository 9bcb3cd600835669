"""Helpers for the admin tests: sign in through the real form, pull CSRF tokens out of pages."""

from __future__ import annotations

import re
from typing import Any

from scrm.models import Role, StaffUser
from tests.factories import PASSWORD, make_dealer, make_staff

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str | bytes) -> str:
    """The CSRF token of the first form on a page."""
    text = html.decode() if isinstance(html, bytes) else html
    m = _TOKEN.search(text)
    assert m, "no CSRF token on the page"
    return m.group(1)


def csrf(client: Any, path: str = "/admin/login") -> str:
    """A valid CSRF token for this client's session (read from a page)."""
    resp = client.get(path)
    return csrf_from(resp.data)


def login(client: Any, username: str, password: str = PASSWORD, follow: bool = False) -> Any:
    """Sign in through the login form; returns the response."""
    token = csrf(client, "/admin/login")
    return client.post("/admin/login", data={"username": username, "password": password, "csrf_token": token},
                       follow_redirects=follow)


def post(client: Any, path: str, data: dict[str, Any] | None = None, follow: bool = False) -> Any:
    """POST with a valid CSRF token (taken from the dashboard of the signed-in client)."""
    token = csrf(client, "/admin/")
    return client.post(path, data={**(data or {}), "csrf_token": token}, follow_redirects=follow)


def signed_in(client: Any, role: Role = Role.BRAND_ADMIN, dealer: Any = None, **kw: Any) -> StaffUser:
    """Create a staff user of `role` and sign the client in as them."""
    if role != Role.BRAND_ADMIN and dealer is None:
        dealer = make_dealer()
    user = make_staff(role=role, dealer=dealer if role != Role.BRAND_ADMIN else None, **kw)
    resp = login(client, user.username)
    assert resp.status_code == 303, resp.data[:500]
    return user


def text(resp: Any) -> str:
    """The response body as text."""
    return str(resp.data.decode())
