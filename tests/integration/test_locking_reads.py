"""Locking reads and savepoints hold on both databases: PostgreSQL's row locks, and on the SQLite fallback (the
demo) the write lock a FOR UPDATE read or a savepoint takes (scrm.db's engine hooks)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Member
from scrm.services import ledger
from tests.factories import make_follower

pytestmark = pytest.mark.integration
THREADS = 8
ROUNDS = 5


def _member_id() -> int:
    f = make_follower()
    with db.transaction() as s:
        return ledger.member_in(s, f.id).id


def test_read_then_write_under_for_update_loses_no_update(app_ctx: Any) -> None:
    mid = _member_id()
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            barrier.wait()
            for _ in range(ROUNDS):
                with db.transaction() as s:
                    m = s.scalar(sa.select(Member).where(Member.id == mid).with_for_update())
                    assert m is not None
                    m.balance = m.balance + 1          # read, then write what was read: a lost update without a lock
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)
        finally:
            db.session.remove()

    threads = [threading.Thread(target=bump) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert db.session.scalar(sa.select(Member.balance).where(Member.id == mid)) == THREADS * ROUNDS


def test_a_savepoint_first_in_a_transaction_is_undone_by_its_rollback(app_ctx: Any) -> None:
    mid = _member_id()
    with pytest.raises(RuntimeError), db.transaction() as s:
        with s.begin_nested():                          # the transaction's first write, inside a savepoint
            s.execute(sa.update(Member).where(Member.id == mid).values(balance=99))
        raise RuntimeError("the caller fails after the savepoint was released")
    assert db.session.scalar(sa.select(Member.balance).where(Member.id == mid)) == 0
