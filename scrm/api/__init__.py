"""The JSON API for dealers' own systems, under /api/v1, and its OpenAPI document at /api/openapi.json.

Every /api/v1 request carries `Authorization: Bearer scrm_...`; the key decides the one dealer the call
may read or change. No cookies, no CSRF (the blueprints are exempt): a key is the only credential.
Each key is rate limited (GCRA in Redis, shared by every web process: `[app] api_rate_per_second` and
`api_burst`); a request over the limit gets 429 with Retry-After and is not processed.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException

from scrm import runtime
from scrm.api.errors import api_error, http_error
from scrm.outbox import limiter
from scrm.services import api_keys

BODY_LIMIT = 2 * 1024 * 1024  # 1,000 customers with a few vehicles each fit easily

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api/v1")
doc_bp = Blueprint("api_doc", __name__, url_prefix="/api")


@bp.before_request
def _authenticate() -> Response | None:
    request.max_content_length = BODY_LIMIT
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        return api_error(401, "Missing API key: send the header “Authorization: Bearer scrm_...”.")
    if scheme.lower() != "bearer" or not token.strip():
        return api_error(401, "Malformed Authorization header: expected “Bearer scrm_...”.")
    caller = api_keys.authenticate(token.strip())
    if caller is None:
        return api_error(401, "The API key is not valid, or it has been revoked.")
    g.api_caller = caller
    return _rate_limit(caller)


def limiter_name(key_id: int) -> str:
    """The limiter key of one API key."""
    return f"api:{key_id}"


def _rate_limit(caller: api_keys.ApiCaller) -> Response | None:
    """429 with Retry-After when the key is over its rate; a Redis outage lets the request through (logged)."""
    app_settings = runtime.get().settings.app
    try:
        wait = limiter.try_acquire(limiter_name(caller.key_id), app_settings.api_rate_per_second,
                                   app_settings.api_burst)
    except RedisError:
        log.warning("API rate limiter unavailable; request of key %s let through", caller.prefix, exc_info=True)
        return None
    if wait <= 0:
        return None
    response = api_error(429, f"Too many requests for this API key: at most {app_settings.api_rate_per_second:g} "
                              f"per second (bursts of {app_settings.api_burst}). Retry after the number of seconds "
                              "in the Retry-After header.")
    response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return http_error(exc)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    from flask import current_app

    current_app.logger.exception("API request failed: %s %s", request.method, request.path)
    return api_error(500, "Something went wrong on our side.")


@doc_bp.get("/openapi.json")
def openapi_json() -> Any:
    """The OpenAPI 3 document of the API."""
    from scrm.api.openapi import document

    response = jsonify(document())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def init_api(app: Flask) -> None:
    """Register the API blueprints; call after `init_admin` (which sets up CSRF)."""
    import scrm.api.bindings
    import scrm.api.bookings
    import scrm.api.customers
    import scrm.api.repairs  # noqa: F401  (each module registers its routes on bp)

    app.register_blueprint(bp)
    app.register_blueprint(doc_bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)
        csrf.exempt(doc_bp)
