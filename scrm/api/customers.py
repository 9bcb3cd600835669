"""/api/v1/customers: batch upserts and reading one customer, for the key's dealer only."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify

from scrm.api import bp
from scrm.api.errors import api_error, batch_items
from scrm.services import api_customers
from scrm.services.api_keys import ApiCaller
from scrm.services.errors import NotFound


def _caller() -> ApiCaller:
    caller: ApiCaller = g.api_caller
    return caller


@bp.post("/customers:batch")
def customers_batch() -> Any:
    """Create or update up to 1,000 customers (with vehicles); one result per item."""
    items = batch_items("customers", "customers", api_customers.MAX_ITEMS)
    if isinstance(items, Response):
        return items
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
