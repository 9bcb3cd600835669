"""Every API error has one JSON shape: {"error": {"code": ..., "message": ...}}."""

from __future__ import annotations

from flask import Response, jsonify, request
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


def batch_items(key: str, label: str, max_items: int) -> list[object] | Response:
    """The list under `key` of a JSON batch body, or the error response saying what is wrong with the body."""
    if not request.is_json:
        return api_error(415, "Send the body as JSON (Content-Type: application/json).")
    body = request.get_json(silent=True)
    if body is None:
        return api_error(400, "The body is not valid JSON.")
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        return api_error(422, f"The body must be an object with a list “{key}”.")
    unknown = sorted(set(body) - {key})
    if unknown:
        return api_error(422, f"Unknown field in the body: {', '.join(unknown)[:200]}.")
    items: list[object] = body[key]
    if len(items) > max_items:
        return api_error(422, f"Too many {label}: {len(items)}, at most {max_items} per request.",
                         code="too_many_items")
    return items


def http_error(exc: HTTPException) -> Response:
    """An HTTP exception (404, 405, 413, ...) under /api as a JSON error."""
    status = exc.code or 500
    response = api_error(status, MESSAGES.get(status, exc.description or "The request failed."))
    if status == 405 and exc.response is None:
        allowed = getattr(exc, "valid_methods", None)
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
    return response
