"""Every API error has one JSON shape: {"error": {"code": ..., "message": ...}}."""

from __future__ import annotations

from flask import Response, jsonify
from werkzeug.exceptions import HTTPException

# HTTP status -> our stable error code (what client programs branch on).
CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
         422: "invalid_request", 429: "rate_limited", 500: "internal_error"}
MESSAGES = {404: "No such resource.", 405: "This method is not allowed here.",
            413: "The request body is too large.", 500: "Something went wrong on our side."}


def api_error(status: int, message: str, code: str | None = None) -> Response:
    """A JSON error response."""
    response = jsonify({"error": {"code": code or CODES.get(status, "error"), "message": message}})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="scrm-api"'
    response.headers["Cache-Control"] = "no-store"
    return response


def http_error(exc: HTTPException) -> Response:
    """An HTTP exception (404, 405, 413, ...) under /api as a JSON error."""
    status = exc.code or 500
    response = api_error(status, MESSAGES.get(status, exc.description or "The request failed."))
    if status == 405 and exc.response is None:
        allowed = getattr(exc, "valid_methods", None)
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
    return response
