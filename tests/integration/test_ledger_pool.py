"""The pool's ping policy (scrm.db): connections that idled are pinged on checkout and replaced when dead,
connections returned moments ago are used without a ping, and a connection killed inside that window
fails one statement and is then replaced (the ledger's hot path relies on this instead of a pre-ping)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from scrm import db
from scrm.models import Trigger
from scrm.services import ledger
from tests.integration.loyalty_support import make_member

pytestmark = pytest.mark.integration
IDLE = 0.3  # a short idle threshold keeps these tests fast; production uses db.PING_AFTER_IDLE_SECONDS


def _pid(c: sa.Connection) -> int:
    return int(c.scalar(sa.text("SELECT pg_backend_pid()")) or 0)


def _kill(url: str, pids: list[int] | None = None) -> None:
    """Terminate the backends `pids` (default: every other backend of the database) and wait for them."""
    admin = sa.create_engine(url, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        if pids is None:
            pids = [int(p) for p in c.scalars(sa.text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"))]
        for pid in pids:
            assert c.scalar(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        deadline = time.monotonic() + 5
        while c.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:p)"), {"p": pids}):
            assert time.monotonic() < deadline, "the killed backends did not go away"
            time.sleep(0.05)
    admin.dispose()


@pytest.fixture
def engine(app: Any, database_url: str) -> Iterator[Engine]:
    if not database_url.startswith("postgresql"):
        pytest.skip("the ping policy applies to the PostgreSQL pool")
    eng = db.make_engine(database_url, pool_size=2, ping_after_idle=IDLE)
    yield eng
    eng.dispose()


@pytest.fixture
def pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the dialect's pings (SQLAlchemy's own do_ping, spied on, still run)."""
    seen: list[int] = []
    real = engine.dialect.do_ping

    def spy(dbapi_conn: Any) -> bool:
        seen.append(1)
        return bool(real(dbapi_conn))

    monkeypatch.setattr(engine.dialect, "do_ping", spy)
    return seen


def test_a_connection_returned_moments_ago_is_not_pinged(engine: Engine, pings: list[int]) -> None:
    with engine.connect() as c:
        first = _pid(c)
    for _ in range(5):
        with engine.connect() as c:
            assert _pid(c) == first
    assert pings == []


def test_an_idle_connection_is_pinged_before_use(engine: Engine, pings: list[int]) -> None:
    with engine.connect() as c:
        first = _pid(c)
    time.sleep(IDLE + 0.1)
    with engine.connect() as c:
        assert _pid(c) == first
    assert pings == [1]


def test_a_killed_idle_connection_is_replaced_without_an_error(engine: Engine, database_url: str,
                                                               pings: list[int]) -> None:
    with engine.connect() as a, engine.connect() as b:
        victims = [_pid(a), _pid(b)]
    _kill(database_url, victims)
    time.sleep(IDLE + 0.1)
    with engine.connect() as c:
        assert _pid(c) not in victims  # the ping failed, the pool reconnected and the checkout succeeded
    with engine.connect() as c, engine.connect() as d:  # the other dead connection was dropped as well
        assert {_pid(c), _pid(d)}.isdisjoint(victims)
    assert len(pings) >= 1


def test_a_connection_killed_right_after_use_fails_once_then_recovers(engine: Engine, database_url: str,
                                                                     pings: list[int]) -> None:
    with engine.connect() as c:
        victim = _pid(c)
    _kill(database_url, [victim])
    with pytest.raises(sa.exc.OperationalError) as err, engine.connect() as c:
        c.execute(sa.text("SELECT 1"))
    assert err.value.connection_invalidated
    with engine.connect() as c:
        assert _pid(c) != victim
    assert pings == []


def test_the_app_engine_earns_after_its_connections_were_killed(app_ctx: Any, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the ping policy applies to the PostgreSQL pool")
    m = make_member()
    with db.transaction() as s:
        ledger.earn_in(s, m.id, Trigger.EVENT_ATTENDED, key="pool-1", source="test", points=3)
        victim = _pid(s.connection())
    db.session.remove()
    _kill(database_url)  # every pooled connection of the app dies
    time.sleep(db.PING_AFTER_IDLE_SECONDS + 0.2)
    with db.transaction() as s:
        award = ledger.earn_in(s, m.id, Trigger.EVENT_ATTENDED, key="pool-2", source="test", points=4)
        assert _pid(s.connection()) != victim
    assert award.points == 4 and award.balance == 7
