"""The dealer-system API's repair orders: batch upserts through the repair-order import rules.

Each item is validated by the same rule as a file row (`parse_repair_row`) and written by the same
idempotent upsert (`apply_repairs`), in a savepoint of its own: a refused item changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scrm import db
from scrm.services import audit
from scrm.services.api_customers import ItemResult, _cells, _error, _text
from scrm.services.api_keys import ApiCaller
from scrm.services.imports.customers import ParsedRow
from scrm.services.imports.repair_rows import parse_repair_row
from scrm.services.imports.repairs import apply_repairs
from scrm.services.imports.upsert import CREATED, REJECTED, UNCHANGED, UPDATED, Batch

MAX_ITEMS = 1000
REPAIR_INPUT = ("external_id", "date", "type", "amount", "mileage", "advisor", "vin", "plate", "customer_external_id",
                "mobile")

audit.ACTIONS.update({"api.repair_orders_batch": "Dealer system upserted repair orders"})


@dataclass
class RepairResult(ItemResult):
    """An item's result, with the customer the order was linked to."""

    customer_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The item's entry in the response."""
        out = super().as_json()
        if self.customer_id is not None:
            out["customer_id"] = self.customer_id
        return out


def parse_repair_item(item: object) -> tuple[ParsedRow | None, list[dict[str, str]]]:
    """The validated row of one item, or the reasons it is refused."""
    if not isinstance(item, dict):
        return None, [_error("", "Each item must be a JSON object.")]
    errors: list[dict[str, str]] = []
    cells = _cells(item, REPAIR_INPUT, "", errors)
    if errors:
        return None, errors
    row = parse_repair_row(0, cells, {name: name for name in cells})
    errors = [_error(*key) for key in dict.fromkeys((p.column, _text(p)) for p in row.problems)]
    return (None if errors else row), errors


def upsert_repair_orders(caller: ApiCaller, items: list[object]) -> list[RepairResult]:
    """Create or update the caller's dealer's repair orders, one result per item, in order (audited)."""
    batch = Batch(caller.account_id, caller.dealer_id, 0, f"API key {caller.prefix}", db.utcnow(), via_api=True)
    results: list[RepairResult] = []
    with db.transaction() as s:
        for index, item in enumerate(items):
            row, errors = parse_repair_item(item)
            results.append(_write(s, batch, index, row) if row is not None else
                           RepairResult(index, REJECTED, errors=errors))
        counts = {status: sum(r.status == status for r in results)
                  for status in (CREATED, UPDATED, UNCHANGED, REJECTED)}
        audit.record(s, staff=None, action="api.repair_orders_batch", target_type="api_key",
                     target_id=caller.key_id,
                     detail={"api_key_id": caller.key_id, "prefix": caller.prefix, "items": len(items), **counts,
                             "changed_ids": [r.id for r in results if r.status in (CREATED, UPDATED)][:200]},
                     account_id=caller.account_id, dealer_id=caller.dealer_id)
    return results


def _write(s: Session, batch: Batch, index: int, row: ParsedRow) -> RepairResult:
    """Write one item in a savepoint; a refusal or a clash rolls it back."""
    savepoint = s.begin_nested()
    try:
        [outcome] = apply_repairs(s, batch, [row])
        s.flush()
    except IntegrityError:
        savepoint.rollback()
        return RepairResult(index, REJECTED, errors=[_error("", "This item clashed with a record written at the "
                                                                "same time; send it again.")])
    if outcome.status == REJECTED:
        savepoint.rollback()
        return RepairResult(index, REJECTED, errors=[_error(p.column, _text(p)) for p in outcome.problems])
    savepoint.commit()
    return RepairResult(index, outcome.status, id=outcome.record_id, customer_id=outcome.customer_id)
