"""GET/POST /wechat/<slug>: WeChat's push endpoint, a lean WSGI lane in front of the Flask app.

Every push comes through here, so the lane skips what the staff pages need and a push does not:
Flask's URL routing, request and response objects, cookie session, CSRF check and after-request
hooks (together about a fifth of a push's CPU). It still runs each push inside the app's context, so
the gateway and the handlers see what they would under Flask. Status codes: see gateway.py; a
method other than GET or POST is 405, and any other path goes on to Flask untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask
from werkzeug.wsgi import get_input_stream

from scrm import metrics
from scrm.config import Settings
from scrm.sessions import skip_sessions
from scrm.wechat.gateway import MAX_BODY, TEXT_TYPE, Result, gateway_for

logger = logging.getLogger(__name__)
PREFIX = "/wechat/"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_children: dict[tuple[str, str], tuple[Any, Any]] = {}
_STATUS = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}


def _metrics(label: str, outcome: str) -> tuple[Any, Any]:
    """The labelled children, looked up once per (account, outcome)."""
    pair = _children.get((label, outcome))
    if pair is None:
        pair = _children[(label, outcome)] = (metrics.WEBHOOK_REQUESTS.labels(account=label, outcome=outcome),
                                              metrics.WEBHOOK_SECONDS.labels(account=label))
    return pair


def query_args(query_string: str) -> dict[str, str]:
    """The query string's parameters; the first of repeated names wins, as with Flask's `request.args`."""
    args: dict[str, str] = {}
    if "%" in query_string or "+" in query_string:
        pairs: Iterable[tuple[str, str]] = parse_qsl(query_string, keep_blank_values=True)
    else:  # nothing to unquote (WeChat's own query strings): parse_qsl's split without its unquoting
        pairs = (field.partition("=")[::2] for field in query_string.split("&") if field)
    for name, value in pairs:
        args.setdefault(name, value)
    return args


def read_body(environ: dict[str, Any]) -> bytes | None:
    """The request body, or None when it is larger than MAX_BODY (declared or actually sent)."""
    declared = environ.get("CONTENT_LENGTH")
    if declared:
        try:
            length = int(declared)
        except ValueError:
            return b""  # a Content-Length that is not a number: nothing usable was sent
        if length > MAX_BODY:
            return None
        if length >= 0 and not environ.get("wsgi.input_terminated"):
            return environ["wsgi.input"].read(length)  # what get_input_stream's limited stream would give
    data = get_input_stream(environ).read(MAX_BODY + 1)
    return None if len(data) > MAX_BODY else data


class WebhookLane:
    """WSGI middleware: answers /wechat/<slug> itself and passes every other path to `inner`."""

    def __init__(self, app: Flask, inner: WSGIApp) -> None:
        self.app, self.inner = app, inner

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Serve one request."""
        path: str = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX) or "/" in path[len(PREFIX):] or len(path) == len(PREFIX):
            return self.inner(environ, start_response)
        started = time.perf_counter()
        slug = path[len(PREFIX):]
        method = environ.get("REQUEST_METHOD", "")
        settings: Settings = self.app.extensions["scrm.settings"]  # read each time: it may be replaced
        account = settings.accounts.get(slug)
        if account is None:
            # Label "unknown", never the slug itself: arbitrary paths must not grow the metric's series.
            return self._respond(start_response, Result(404, "not found", "not_found"), "unknown", started)
        if method not in ("GET", "POST"):
            return self._respond(start_response, Result(405, "method not allowed", "bad_request"), slug, started,
                                 allow=True)
        with self.app.app_context():
            result = self._handle(method, account, environ)
        return self._respond(start_response, result, slug, started)

    def _handle(self, method: str, account: Any, environ: dict[str, Any]) -> Result:
        gateway = gateway_for(self.app)
        args = query_args(environ.get("QUERY_STRING", ""))
        if method == "GET":
            return gateway.handshake(account, args)
        try:
            body = read_body(environ)
            if body is None:
                return Result(413, "too large", "too_large")
            return gateway.handle_post(account, args, body)
        except Exception:
            logger.exception("webhook failed for account %s", account.slug)
            return Result(503, "temporarily unavailable", "error", TEXT_TYPE)

    @staticmethod
    def _respond(start_response: Callable[..., Any], result: Result, label: str, started: float,
                 allow: bool = False) -> list[bytes]:
        requests, seconds = _metrics(label, result.outcome)
        requests.inc()
        seconds.observe(time.perf_counter() - started)
        data = result.body.encode("utf-8")
        headers = [("Content-Type", result.content_type), ("Content-Length", str(len(data))),
                   ("X-Content-Type-Options", "nosniff"),  # echostr is echoed: never let it be sniffed as HTML
                   ("Cache-Control", "no-store")]
        if allow:
            headers.append(("Allow", "GET, POST"))
        start_response(_STATUS[result.status], headers)
        return [data]


def install(app: Flask) -> None:
    """Put the lane in front of the app's WSGI callable (after any proxy middleware)."""
    skip_sessions(app, PREFIX)  # a path the lane passes on (/wechat/a/b: a 404) opens no session either
    app.wsgi_app = WebhookLane(app, app.wsgi_app)  # type: ignore[method-assign]
