"""How PostgreSQL joins a segment count: by index when the audience is small, by ordered merges when large.

A count's contacts are the filtered customers left-joined to their bindings (which carry the follower's
reachability), and to the followers only when a condition reads them. Left alone,
PostgreSQL 15 plans it as parallel hash joins that hash the whole bindings and followers tables (it cannot
hash the small, filtered side of a left join in parallel before 16), and costs that below reaching the
bindings and followers of the filtered customers through indexes. Measured at 1,000,000 customers
(BENCHMARKS.md, "Campaigns"), the index joins take about half the CPU for a sixth of the customers, and
merge joins over the ordered indexes beat both hash and index joins for all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.models import Customer

# A count the planner expects to return at most 1/SMALL_SHARE as many rows as there are customers joins by index.
SMALL_SHARE = 4


@contextmanager
def count_plan(s: Session, contacts: Any) -> Iterator[None]:
    """Within the block, plan without hash joins, and without merge joins if `contacts` (a Select) is small."""
    if s.get_bind().dialect.name != "postgresql":
        yield
        return
    s.execute(sa.text("SELECT set_config('enable_hashjoin', 'off', true)"))
    if _estimate(s, contacts) * SMALL_SHARE <= _estimate(s, sa.select(Customer.id)):
        s.execute(sa.text("SELECT set_config('enable_mergejoin', 'off', true)"))
    yield   # after an error the rollback drops these settings; a failed transaction could not reset them
    s.execute(sa.text("SELECT set_config('enable_hashjoin', 'on', true), set_config('enable_mergejoin', 'on', true)"))


def _estimate(s: Session, stmt: Any) -> float:
    """The planner's estimate of the rows `stmt` returns (EXPLAIN only: nothing is run)."""
    compiled = stmt.compile(dialect=s.get_bind().dialect, compile_kwargs={"render_postcompile": True})
    plan = s.connection().exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params).scalar_one()
    return float(plan[0]["Plan"]["Plan Rows"])
