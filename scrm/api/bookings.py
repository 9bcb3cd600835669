"""/api/v1/bookings: the key's dealer's bookings, filtered by start time, status and change time, in pages."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from scrm.api import bp
from scrm.api.errors import api_error
from scrm.services import api_bookings
from scrm.services.errors import Invalid

_PARAMS = {"from", "to", "status", "updated_since", "cursor", "limit"}


@bp.get("/bookings")
def bookings() -> Any:
    """One page of bookings, soonest first; follow `next_cursor` until it is null."""
    unknown = sorted(set(request.args) - _PARAMS)
    if unknown:
        return api_error(422, f"Unknown query parameter: {', '.join(unknown)[:200]}.")
    raw_limit = request.args.get("limit", "")
    if raw_limit and not (raw_limit.isascii() and raw_limit.isdigit() and
                          1 <= int(raw_limit) <= api_bookings.MAX_LIMIT):
        return api_error(422, f"`limit` must be a whole number from 1 to {api_bookings.MAX_LIMIT}.")
    caller = g.api_caller
    try:
        tz = api_bookings.dealer_zone(caller)
        page = api_bookings.list_bookings(
            caller, start_from=api_bookings.parse_when(request.args.get("from"), "from", tz),
            start_to=api_bookings.parse_when(request.args.get("to"), "to", tz, end=True),
            statuses=api_bookings.parse_status(request.args.get("status")),
            updated_since=api_bookings.parse_when(request.args.get("updated_since"), "updated_since", tz),
            cursor=request.args.get("cursor") or None,
            limit=int(raw_limit) if raw_limit else api_bookings.DEFAULT_LIMIT)
    except Invalid as exc:
        return api_error(422, exc.message)
    return jsonify(page)
