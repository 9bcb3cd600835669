"""customer_bindings.reachable mirrors the bound follower's `subscribed AND NOT opt_out_marketing` (the triggers of
migration 0002), on both databases, and segment counts read it."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import CustomerBinding, Follower
from scrm.services import campaign_run, segment_compile, segments
from scrm.services.accounts import account_id
from tests.factories import make_dealer, make_follower
from tests.integration.customer_support import bind, make_customer

pytestmark = pytest.mark.integration


def _flags(*follower_ids: int) -> dict[int, bool]:
    rows = db.session.execute(sa.select(CustomerBinding.follower_id, CustomerBinding.dealer_id,
                                        CustomerBinding.reachable)
                              .where(CustomerBinding.follower_id.in_(follower_ids)))
    out: dict[int, bool] = {}
    for fid, _dealer, flag in rows:
        assert out.setdefault(fid, bool(flag)) == bool(flag), "one follower's bindings disagree"
    db.session.remove()
    return out


def _set(follower_id: int, **values: Any) -> None:
    with db.transaction() as s:
        s.execute(sa.update(Follower).where(Follower.id == follower_id).values(**values))


def test_a_new_binding_takes_the_followers_state(app_ctx: Any) -> None:
    dealer = make_dealer()
    on, off, opted = make_follower(), make_follower(subscribed=False), make_follower(opt_out_marketing=True)
    for f in (on, off, opted):
        bind(make_customer(dealer), f)
    assert _flags(on.id, off.id, opted.id) == {on.id: True, off.id: False, opted.id: False}


def test_a_change_of_the_follower_rewrites_all_its_bindings(app_ctx: Any) -> None:
    a, b = make_dealer(), make_dealer()
    f, other = make_follower(), make_follower()
    bind(make_customer(a), f)
    bind(make_customer(b), f)          # one follower, bound at two dealers
    bind(make_customer(a), other)
    _set(f.id, subscribed=False)
    assert _flags(f.id, other.id) == {f.id: False, other.id: True}
    _set(f.id, subscribed=True)
    assert _flags(f.id) == {f.id: True}
    _set(f.id, opt_out_marketing=True)
    assert _flags(f.id) == {f.id: False}
    _set(f.id, opt_out_marketing=False, subscribed=False)
    assert _flags(f.id) == {f.id: False}
    _set(f.id, subscribed=True, last_interaction_at=db.utcnow())
    assert _flags(f.id, other.id) == {f.id: True, other.id: True}


def test_a_value_written_to_the_flag_is_replaced_by_the_followers_state(app_ctx: Any) -> None:
    dealer = make_dealer()
    f, c = make_follower(subscribed=False), make_customer(dealer)
    with db.transaction() as s:
        s.add(CustomerBinding(account_id=c.account_id, dealer_id=c.dealer_id, follower_id=f.id, customer_id=c.id,
                              reachable=True))
    assert _flags(f.id) == {f.id: False}
    with db.transaction() as s:
        s.execute(sa.update(CustomerBinding).where(CustomerBinding.follower_id == f.id).values(reachable=True))
    assert _flags(f.id) == {f.id: False}
    g = make_follower()
    with db.transaction() as s:     # a binding moved to another follower takes that follower's state
        s.execute(sa.update(CustomerBinding).where(CustomerBinding.follower_id == f.id).values(follower_id=g.id))
    assert _flags(g.id) == {g.id: True}


def test_the_segment_count_follows_unsubscribes(app_ctx: Any) -> None:
    dealer = make_dealer(city="苏州")
    fs = [make_follower() for _ in range(4)]
    for f in fs:
        bind(make_customer(dealer, city="苏州"), f)
    make_customer(dealer, city="苏州")     # no follower: a contact, not reachable

    def counts() -> segments.Counts:
        definition = segment_compile.normalise({"match": "all", "rules": [
            {"field": "city", "op": "in", "value": ["苏州"]}]}, brand=True)
        with db.transaction() as s:
            q = segment_compile.audience(definition, account_id=account_id("demo"), dealer_id=dealer.id,
                                         env=campaign_run.env(s))
            return segments.count_contacts(s, q.subquery("contacts"), one_dealer=True)

    assert counts() == segments.Counts(5, 5, 4, 4)
    _set(fs[0].id, subscribed=False)
    _set(fs[1].id, opt_out_marketing=True)
    assert counts() == segments.Counts(5, 5, 4, 2)


@pytest.mark.parametrize("bind_first", [True, False])
def test_an_unsubscribe_racing_a_new_binding_is_not_lost(app_ctx: Any, bind_first: bool) -> None:
    """Either order of a binding's insert and its follower's unsubscribe, each in its own open transaction,
    ends with the binding unreachable (PostgreSQL: the trigger locks the follower; SQLite: one writer)."""
    dealer = make_dealer()
    f, c = make_follower(), make_customer(dealer)
    first_done = threading.Event()
    errors: list[BaseException] = []

    def binder() -> None:
        try:
            with db.transaction() as s:
                s.add(CustomerBinding(account_id=c.account_id, dealer_id=c.dealer_id, follower_id=f.id,
                                      customer_id=c.id))
                s.flush()
                if bind_first:
                    first_done.set()
                    time.sleep(0.3)    # the unsubscribe, started meanwhile, must wait for this commit
        except BaseException as exc:  # asserted on below
            errors.append(exc)
        finally:
            first_done.set()
            db.session.remove()

    def unsubscriber() -> None:
        try:
            with db.transaction() as s:
                s.execute(sa.update(Follower).where(Follower.id == f.id).values(subscribed=False))
                if not bind_first:
                    first_done.set()
                    time.sleep(0.3)    # the binding, started meanwhile, must wait and then see this
        except BaseException as exc:  # asserted on below
            errors.append(exc)
        finally:
            first_done.set()
            db.session.remove()

    first, second = (binder, unsubscriber) if bind_first else (unsubscriber, binder)
    t1 = threading.Thread(target=first)
    t1.start()
    first_done.wait(10)
    t2 = threading.Thread(target=second)
    t2.start()
    t1.join(30)
    t2.join(30)
    assert not errors, errors
    assert _flags(f.id) == {f.id: False}
