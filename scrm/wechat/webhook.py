"""GET/POST /wechat/<slug>: the Flask adapter of the gateway (see gateway.py for the status codes)."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, Response, current_app, request
from flask.blueprints import BlueprintSetupState

from scrm import metrics
from scrm.config import Settings
from scrm.sessions import skip_sessions
from scrm.wechat.gateway import MAX_BODY, TEXT_TYPE, Result, gateway_for

logger = logging.getLogger(__name__)
bp = Blueprint("wechat", __name__)
_children: dict[tuple[str, str], tuple[Any, Any]] = {}


@bp.record_once
def _skip_sessions(state: BlueprintSetupState) -> None:
    app: Any = state.app
    skip_sessions(app, "/wechat/")


def _metrics(label: str, outcome: str) -> tuple[Any, Any]:
    """The labelled children, looked up once per (account, outcome)."""
    pair = _children.get((label, outcome))
    if pair is None:
        pair = _children[(label, outcome)] = (metrics.WEBHOOK_REQUESTS.labels(account=label, outcome=outcome),
                                              metrics.WEBHOOK_SECONDS.labels(account=label))
    return pair


def _read_body() -> bytes | None:
    """The request body, or None when it is larger than MAX_BODY (declared or actually sent)."""
    declared = request.content_length
    if declared is not None and declared > MAX_BODY:
        return None
    data = request.stream.read(MAX_BODY + 1)
    return None if len(data) > MAX_BODY else data


def _respond(result: Result, label: str, started: float) -> Response:
    requests, seconds = _metrics(label, result.outcome)
    requests.inc()
    seconds.observe(time.perf_counter() - started)
    response = Response(result.body, status=result.status, content_type=result.content_type)
    response.headers["X-Content-Type-Options"] = "nosniff"  # echostr is echoed: never let it be sniffed as HTML
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/wechat/<slug>", methods=["GET", "POST"])
def webhook(slug: str) -> Response:
    """WeChat's push endpoint for the official account `slug`."""
    started = time.perf_counter()
    settings: Settings = current_app.extensions["scrm.settings"]
    account = settings.accounts.get(slug)
    if account is None:
        # Label "unknown", never the slug itself: arbitrary paths must not grow the metric's series.
        return _respond(Result(404, "not found", "not_found"), "unknown", started)
    gateway = gateway_for(current_app._get_current_object())  # type: ignore[attr-defined]
    if request.method == "GET":
        return _respond(gateway.handshake(account, request.args), slug, started)
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _respond(Result(413, "too large", "too_large"), slug, started)
    try:
        body = _read_body()
        if body is None:
            return _respond(Result(413, "too large", "too_large"), slug, started)
        result = gateway.handle_post(account, request.args, body)
    except Exception:
        logger.exception("webhook failed for account %s", slug)
        result = Result(503, "temporarily unavailable", "error", TEXT_TYPE)
    return _respond(result, slug, started)
