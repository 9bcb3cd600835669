"""After an erasure (PIPL) the person is not brought back by a file or the API, and the tombstone
takes no new notes or tags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Customer, Role
from scrm.services.customer_profile import add_note, set_tags
from scrm.services.imports.run import import_customers
from scrm.services.privacy_erase import erase_customer
from scrm.services.validation import FormInvalid
from tests.factories import make_dealer, make_staff
from tests.integration.api_support import auth, new_key
from tests.integration.customer_support import make_customer
from tests.integration.test_import_customers import read_report, write_csv


def _erase(dealer: Any, **kw: Any) -> tuple[Customer, Any]:
    manager = make_staff(Role.DEALER_MANAGER, dealer=dealer)
    c = make_customer(dealer, **kw)
    erase_customer(manager, c.id, confirm=str(c.id), reason="客户来电要求删除")
    return c, manager


def test_import_does_not_recreate_an_erased_person(app_ctx: Any, tmp_path: Path) -> None:
    dealer = make_dealer()
    other = make_dealer()
    _erase(dealer, name="张三", mobile="13800138000", external_id="K-001")
    _erase(dealer, name="钱七", mobile=None, landline="021-58881234")
    rows = [["K-001", "张三", ""], ["", "张三", "138 0013 8000"], ["", "钱七", "021-5888 1234"],
            ["K-002", "李四", "13900139000"]]
    path = write_csv(tmp_path / "c.csv", rows)
    summary = import_customers(path, dealer=dealer, report_path=tmp_path / "bad.csv")
    report = read_report(tmp_path / "bad.csv")
    assert (summary.created, summary.rejected) == (1, 3)
    assert sum("删除个人信息" in " ".join(r) for r in report) == 3
    live = db.session.scalars(sa.select(Customer.name).where(Customer.dealer_id == dealer.id,
                                                             Customer.erased_at.is_(None))).all()
    assert live == ["李四"]
    # another dealer's books are their own: the same person imports there
    assert import_customers(path, dealer=other).created == 4


def test_api_does_not_recreate_an_erased_person(client: Any) -> None:
    dealer, key, _ = new_key()
    with client.application.app_context():
        _erase(dealer, name="王五", mobile="13700137000")
    resp = client.post("/api/v1/customers:batch", headers=auth(key),
                       json={"customers": [{"name": "王五", "mobile": "13700137000"}]})
    assert resp.status_code == 200
    result = resp.get_json()["results"][0]
    assert result["status"] == "rejected"
    assert "erased" in str(result).lower()


def test_erased_record_takes_no_note_or_tags(app_ctx: Any) -> None:
    dealer = make_dealer()
    c, manager = _erase(dealer, name="赵六")
    with pytest.raises(FormInvalid):
        add_note(manager, c.id, "回访")
    with pytest.raises(FormInvalid):
        set_tags(manager, c.id, "VIP")
    row = db.session.get(Customer, c.id)
    assert row is not None and row.tags in ([], None)
