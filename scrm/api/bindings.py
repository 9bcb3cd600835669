"""/api/v1/bindings: the followers linked to the key's dealer's customers, with keyset pagination."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from scrm.api import bp
from scrm.api.errors import api_error
from scrm.services import api_bindings
from scrm.services.errors import Invalid

_PARAMS = {"since", "cursor", "limit"}


@bp.get("/bindings")
def bindings() -> Any:
    """One page of bindings, oldest first; follow `next_cursor` until it is null."""
    unknown = sorted(set(request.args) - _PARAMS)
    if unknown:
        return api_error(422, f"Unknown query parameter: {', '.join(unknown)[:200]}.")
    raw_limit = request.args.get("limit", "")
    if raw_limit and not (raw_limit.isascii() and raw_limit.isdigit() and
                          1 <= int(raw_limit) <= api_bindings.MAX_LIMIT):
        return api_error(422, f"`limit` must be a whole number from 1 to {api_bindings.MAX_LIMIT}.")
    try:
        since = api_bindings.parse_since(request.args.get("since"))
        page = api_bindings.list_bindings(g.api_caller, since=since, cursor=request.args.get("cursor") or None,
                                          limit=int(raw_limit) if raw_limit else api_bindings.DEFAULT_LIMIT)
    except Invalid as exc:
        return api_error(422, exc.message)
    return jsonify(page)
