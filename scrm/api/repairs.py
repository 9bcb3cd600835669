"""/api/v1/repair-orders:batch: upsert repair orders of the key's dealer, each linked to an existing customer."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from scrm.api import bp
from scrm.api.errors import api_error
from scrm.services import api_repairs


@bp.post("/repair-orders:batch")
def repair_orders_batch() -> Any:
    """Create or update up to 1,000 repair orders; one result per item."""
    if not request.is_json:
        return api_error(415, "Send the body as JSON (Content-Type: application/json).")
    body = request.get_json(silent=True)
    if body is None:
        return api_error(400, "The body is not valid JSON.")
    if not isinstance(body, dict) or not isinstance(body.get("repair_orders"), list):
        return api_error(422, "The body must be an object with a list “repair_orders”.")
    unknown = sorted(set(body) - {"repair_orders"})
    if unknown:
        return api_error(422, f"Unknown field in the body: {', '.join(unknown)[:200]}.")
    items: list[object] = body["repair_orders"]
    if len(items) > api_repairs.MAX_ITEMS:
        return api_error(422, f"Too many repair orders: {len(items)}, at most {api_repairs.MAX_ITEMS} per request.",
                         code="too_many_items")
    results = api_repairs.upsert_repair_orders(g.api_caller, items)
    return jsonify({"results": [r.as_json() for r in results]})
