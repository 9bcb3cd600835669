"""No cookie session is opened for the server-to-server paths (WeChat's pushes, the sandbox's fake API)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import request
from flask.sessions import NullSession, SecureCookieSession

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("path", "null"), [
    ("/wechat/demo", True),
    ("/sandbox/wx/cgi-bin/message/custom/send", True),
    ("/admin/login", False),
    ("/sandbox/phone/", False),     # the phone simulator is a page people use: it keeps its session
])
def test_sessions_are_opened_only_where_people_browse(app: Any, path: str, null: bool) -> None:
    with app.test_request_context(path):
        opened = app.session_interface.open_session(app, request)
    assert isinstance(opened, NullSession) is null
    if not null:
        assert isinstance(opened, SecureCookieSession)
