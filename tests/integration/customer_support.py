"""Test rows for the customer pages: customers, vehicles, repair orders, bindings (each commits)."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

from scrm import db
from scrm.db import utcnow
from scrm.models import Customer, CustomerBinding, Dealer, Follower, RepairOrder, Vehicle

_seq = itertools.count(1)


def make_customer(dealer: Dealer, **kw: Any) -> Customer:
    """A customer of `dealer`; a unique mobile unless given."""
    n = next(_seq)
    now = utcnow()
    values: dict[str, Any] = dict(name=f"客户{n}", mobile=f"139{n:08d}", created_at=now, updated_at=now)
    values.update(kw)
    with db.transaction() as s:
        c = Customer(account_id=dealer.account_id, dealer_id=dealer.id, **values)
        s.add(c)
    return c


def make_vehicle(customer: Customer, **kw: Any) -> Vehicle:
    """A vehicle owned by `customer`."""
    with db.transaction() as s:
        v = Vehicle(account_id=customer.account_id, dealer_id=customer.dealer_id, customer_id=customer.id, **kw)
        s.add(v)
    return v


def make_repair_order(customer: Customer, day: date, **kw: Any) -> RepairOrder:
    """A repair order of `customer` on `day`."""
    n = next(_seq)
    with db.transaction() as s:
        o = RepairOrder(account_id=customer.account_id, dealer_id=customer.dealer_id, customer_id=customer.id,
                        external_id=f"RO{n:06d}", date=day, **kw)
        s.add(o)
    return o


def bind(customer: Customer, follower: Follower) -> CustomerBinding:
    """Link a follower to the customer."""
    with db.transaction() as s:
        b = CustomerBinding(account_id=customer.account_id, dealer_id=customer.dealer_id,
                            follower_id=follower.id, customer_id=customer.id)
        s.add(b)
    return b
