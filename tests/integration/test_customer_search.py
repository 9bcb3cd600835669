"""Staff search over generated customers: every kind finds the right customer in the dealer's scope and in
the brand admin's scope, and never across dealers; the search uses the expressions the indexes cover."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Customer, Role, Vehicle
from scrm.services import customer_admin as svc
from scrm.services.demo_run import Options, generate
from scrm.services.scope import Scope
from tests.factories import make_dealer

pytestmark = pytest.mark.integration


@pytest.fixture
def generated(app_ctx: Any) -> dict[str, Any]:
    a = make_dealer(code="GA", name="甲店", city="上海")
    b = make_dealer(code="GB", name="乙店", city="杭州")
    for code in ("GA", "GB"):
        generate(Options(customers=400, seed=21, dealer=code, today=date(2026, 11, 22)))
    rows = db.session.execute(sa.select(Customer, Vehicle).join(Vehicle, Vehicle.customer_id == Customer.id).where(
        Customer.mobile.is_not(None), Vehicle.vin.is_not(None)).order_by(Customer.id)).all()
    sample = random.Random(3).sample(rows, 24)
    return {"a": a, "b": b, "sample": sample}


def _ids(scope: Scope, **flt: Any) -> set[int]:
    return {r.customer.id for r in svc.list_customers(scope, svc.CustomerFilter(**flt), per_page=1000).rows}


@pytest.mark.parametrize("kind", ["mobile", "last4", "plate", "vin", "name_prefix"])
def test_each_search_kind_in_both_scopes(generated: dict[str, Any], kind: str) -> None:
    account_id = generated["a"].account_id
    brand = Scope(account_id=account_id, dealer_id=None, role=Role.BRAND_ADMIN)
    for customer, vehicle in generated["sample"]:
        q = {"mobile": customer.mobile, "last4": customer.mobile[-4:], "plate": vehicle.plate,
             "vin": vehicle.vin.lower(), "name_prefix": customer.name[:2]}[kind]
        own = Scope(account_id=account_id, dealer_id=customer.dealer_id, role=Role.DEALER_STAFF)
        other_dealer = generated["b"].id if customer.dealer_id == generated["a"].id else generated["a"].id
        other = Scope(account_id=account_id, dealer_id=other_dealer, role=Role.DEALER_MANAGER)
        found_own, found_brand, found_other = _ids(own, q=q), _ids(brand, q=q), _ids(other, q=q)
        assert customer.id in found_own and customer.id in found_brand, (q, customer.name)
        assert customer.id not in found_other
        in_other = db.session.scalars(sa.select(Customer.dealer_id).where(Customer.id.in_(found_other))).all()
        assert set(in_other) <= {other_dealer}
        if kind in ("mobile", "vin"):
            assert found_own == {customer.id}


def test_filtered_list_page_stage_and_model(generated: dict[str, Any]) -> None:
    customer, vehicle = generated["sample"][0]
    scope = Scope(account_id=customer.account_id, dealer_id=customer.dealer_id, role=Role.DEALER_MANAGER)
    found = _ids(scope, stage="owner", model=vehicle.model)
    expected = set(db.session.scalars(sa.select(Customer.id).where(
        Customer.dealer_id == customer.dealer_id, Customer.stage == "owner", Customer.merged_into_id.is_(None),
        Customer.id.in_(sa.select(Vehicle.customer_id).where(Vehicle.model == vehicle.model)))))
    assert found == expected and expected


def test_search_sql_matches_the_index_expressions(app_ctx: Any) -> None:
    scope = Scope(account_id=1, dealer_id=None, role=Role.BRAND_ADMIN)
    sql = {k: str(svc.list_statement(scope, svc.CustomerFilter(q=q), None, 51).compile(db.engine()))
           for k, q in (("last4", "5678"), ("name", "Zhang"))}
    assert "substr(customers.mobile" in sql["last4"] and "LIKE" not in sql["last4"]
    assert "lower(customers.name) LIKE" in sql["name"] and "ILIKE" not in sql["name"]


@pytest.mark.parametrize(("q", "kind"), [("苏强", "name"), ("云", "name"), ("鲁 小明", "name"), ("苏E12345", "plate"),
                                         ("苏e 1234", "plate"), ("苏AD12345", "plate")])
def test_a_surname_that_is_a_province_is_searched_as_a_name(q: str, kind: str) -> None:
    found = svc.understand(q)
    assert found is not None and found.kind == kind
