"""Helpers for talking to the sandbox's fake WeChat API over real HTTP in tests."""

from __future__ import annotations

import json
from typing import Any

import requests

DEMO_APP = "wxdemo0000000001"
SAFE_APP = "wxsafe0000000002"


def wx(live_server: Any, path: str) -> str:
    """The URL of a fake-API path."""
    return f"{live_server.url}/sandbox/wx/{path.lstrip('/')}"


def get_token(live_server: Any, app_id: str = DEMO_APP, secret: str = "demosecret") -> str:  # noqa: S107
    """A fresh access token from cgi-bin/token."""
    r = requests.get(wx(live_server, "cgi-bin/token"), timeout=5,
                     params={"grant_type": "client_credential", "appid": app_id, "secret": secret})
    body = r.json()
    assert "access_token" in body, body
    return str(body["access_token"])


def post(live_server: Any, path: str, token: str | None, body: Any, **params: Any) -> dict[str, Any]:
    """POST UTF-8 JSON (as wechatpy does, ensure_ascii=False) and return the decoded answer."""
    if token is not None:
        params["access_token"] = token
    r = requests.post(wx(live_server, path), params=params, timeout=5,
                      data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    return dict(r.json())


def get(live_server: Any, path: str, token: str | None, **params: Any) -> dict[str, Any]:
    """GET a fake-API path and return the decoded answer."""
    if token is not None:
        params["access_token"] = token
    r = requests.get(wx(live_server, path), params=params, timeout=5)
    assert r.status_code == 200
    return dict(r.json())


def text(openid: str, content: str) -> dict[str, Any]:
    """A customer-service text message body."""
    return {"touser": openid, "msgtype": "text", "text": {"content": content}}


class Receiver:
    """A throw-away HTTP server standing in for the webhook: records every POST (query and body)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qsl, urlsplit

        self.posts: list[tuple[dict[str, str], str]] = []
        self.arrived = threading.Event()
        self.reply = b"success"          # what the fake webhook answers
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(size).decode("utf-8")
                outer.posts.append((dict(parse_qsl(urlsplit(self.path).query)), body))
                outer.arrived.set()
                self.send_response(outer.status)
                self.end_headers()
                self.wfile.write(outer.reply)

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def wait(self, count: int = 1, timeout: float = 5.0) -> None:
        """Block until `count` posts arrived (or fail)."""
        import time

        deadline = time.monotonic() + timeout
        while len(self.posts) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.posts) >= count, f"expected {count} pushes, got {len(self.posts)}"
