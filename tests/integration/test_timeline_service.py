"""A workshop visit imported from the dealer system reads on the 360 timeline with its type, car,
mileage, amount, advisor and order number."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scrm.models import Role
from scrm.services.imports import import_repair_orders
from tests.factories import make_dealer
from tests.integration.admin_support import signed_in, text
from tests.integration.customer_support import make_customer, make_vehicle
from tests.integration.test_import_repairs import write_csv


def test_service_entry_shows_its_details(client: Any, tmp_path: Path) -> None:
    with client.application.app_context():
        dealer = make_dealer()
        c = make_customer(dealer, name="周杰")
        make_vehicle(c, vin="LSVAM4186C2184841", plate="沪A12345")
        path = write_csv(tmp_path / "ro.csv", [["RO-778", "2026-03-02", "常规保养", "¥1,280.50", "23456", "刘顾问",
                                                "LSVAM4186C2184841", "", "", ""]])
        assert import_repair_orders(path, dealer=dealer).created == 1
    signed_in(client, Role.DEALER_MANAGER, dealer=dealer)
    page = text(client.get(f"/admin/customers/{c.id}"))
    assert "常规保养 · 沪A12345 · 23,456 公里 · ¥1280.50 · 刘顾问 · RO-778" in page
