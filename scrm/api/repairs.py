"""/api/v1/repair-orders:batch: upsert repair orders of the key's dealer, each linked to an existing customer."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify

from scrm.api import bp
from scrm.api.errors import batch_items
from scrm.services import api_repairs


@bp.post("/repair-orders:batch")
def repair_orders_batch() -> Any:
    """Create or update up to 1,000 repair orders; one result per item."""
    items = batch_items("repair_orders", "repair orders", api_repairs.MAX_ITEMS)
    if isinstance(items, Response):
        return items
    results = api_repairs.upsert_repair_orders(g.api_caller, items)
    return jsonify({"results": [r.as_json() for r in results]})
