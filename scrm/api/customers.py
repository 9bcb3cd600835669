"""/api/v1/customers: batch upserts and reading one customer, for the key's dealer only."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request

from scrm.api import bp
from scrm.api.errors import api_error
from scrm.services import api_customers
from scrm.services.api_keys import ApiCaller
from scrm.services.errors import NotFound


def _caller() -> ApiCaller:
    caller: ApiCaller = g.api_caller
    return caller


@bp.post("/customers:batch")
def customers_batch() -> Any:
    """Create or update up to 1,000 customers (with vehicles); one result per item."""
    if not request.is_json:
        return api_error(415, "Send the body as JSON (Content-Type: application/json).")
    body = request.get_json(silent=True)
    if body is None:
        return api_error(400, "The body is not valid JSON.")
    if not isinstance(body, dict) or not isinstance(body.get("customers"), list):
        return api_error(422, "The body must be an object with a list “customers”.")
    unknown = sorted(set(body) - {"customers"})
    if unknown:
        return api_error(422, f"Unknown field in the body: {', '.join(unknown)[:200]}.")
    items: list[object] = body["customers"]
    if len(items) > api_customers.MAX_ITEMS:
        return api_error(422, f"Too many customers: {len(items)}, at most {api_customers.MAX_ITEMS} per request.",
                         code="too_many_items")
    results = api_customers.upsert_batch(_caller(), items)
    return jsonify({"results": [r.as_json() for r in results]})


@bp.get("/customers/<int:customer_id>")
def customer(customer_id: int) -> Response:
    """One customer of the key's dealer, with its vehicles."""
    try:
        data = api_customers.get_customer(_caller(), customer_id)
    except NotFound:
        return api_error(404, "No customer with this id for this dealer.")
    return jsonify(data)
