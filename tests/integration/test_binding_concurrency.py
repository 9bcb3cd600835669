"""Concurrent binds against the real database: threads released together by a barrier.

Invariants: a follower never gets two bindings at one dealer, a one-time code binds exactly once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from scrm import db
from scrm.models import BindMethod, Role
from scrm.services import binding, binding_codes
from scrm.services.binding import AlreadyBound, BindingError
from tests.factories import make_dealer, make_follower, make_staff
from tests.integration.binding_support import bindings, consents
from tests.integration.customer_support import make_customer

pytestmark = pytest.mark.integration
THREADS = 8


def _race(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run the jobs at the same moment, each in its own thread and session; results or exceptions."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = jobs[i]()
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc
        finally:
            db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def _link(follower_id: int, customer_id: int) -> Callable[[], Any]:
    return lambda: binding.link(follower_id=follower_id, customer_id=customer_id, method=BindMethod.CHAT,
                                consent_text="同意联系", language="zh")


def test_the_same_bind_at_once_makes_one_binding(app: Any) -> None:
    dealer = make_dealer()
    c = make_customer(dealer)
    f = make_follower()
    results = _race([_link(f.id, c.id) for _ in range(THREADS)])
    won = [r for r in results if isinstance(r, binding.Linked)]
    assert len(won) == 1, results
    assert all(isinstance(r, AlreadyBound) for r in results if r not in won), results
    assert len(bindings()) == 1 and len(consents()) == 1


def test_one_follower_racing_for_two_records_of_a_dealer_gets_one(app: Any) -> None:
    dealer = make_dealer()
    customers = [make_customer(dealer) for _ in range(THREADS)]
    f = make_follower()
    results = _race([_link(f.id, c.id) for c in customers])
    assert sum(isinstance(r, binding.Linked) for r in results) == 1, results
    [b] = bindings()
    assert b.follower_id == f.id and len(consents()) == 1


def test_a_code_redeemed_by_many_at_once_binds_once(live_server: Any, app_ctx: Any) -> None:
    dealer = make_dealer()
    c = make_customer(dealer)
    code = binding_codes.create_code(make_staff(Role.DEALER_MANAGER, dealer=dealer), c.id)
    followers = [make_follower() for _ in range(THREADS)]
    results = _race([(lambda fid=f.id: binding_codes.redeem(c.account_id, code.token, fid, "同意联系", "zh"))
                     for f in followers])
    assert sum(isinstance(r, binding.Linked) for r in results) == 1, results
    assert all(isinstance(r, BindingError) for r in results if not isinstance(r, binding.Linked)), results
    assert len(bindings()) == 1 and len(consents()) == 1


def test_new_leads_for_one_mobile_at_once_make_one_record(app: Any) -> None:
    dealer = make_dealer()
    followers = [make_follower() for _ in range(THREADS)]
    results = _race([(lambda fid=f.id: binding.link_new_lead(
        account_id=dealer.account_id, dealer_id=dealer.id, follower_id=fid, mobile="13711112222",
        method=BindMethod.CHAT, consent_text="同意联系", language="zh")) for f in followers])
    assert sum(isinstance(r, binding.Linked) for r in results) == 1, results
    assert len(bindings()) == 1
