"""follower touch heap-only: no index on followers.last_interaction_at; followers pages kept 10 % free

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 15:10:00

Every push touches its follower's row (last interaction, its kind, the customer-service allowance, last
message). With `last_interaction_at` indexed, each touch was an update that changed an indexed column, so
PostgreSQL wrote a new entry into all six of the table's indexes for it, and (without vacuum) the table
and its indexes grew by a row version per push. With no index on any column a touch writes, and free
room on the row's page, a touch is a heap-only (HOT) update: no index is written, and the old versions
are pruned from the page without vacuum.

Measured on the development machine (`bookkeeping.write`, 64-entry batches, 64,000 entries):

* 200,000 followers, each touch a different one: PostgreSQL 104-114 µs of CPU per entry before,
  76-88 after (table written with fillfactor 90: every update heap-only; written with full pages, as an
  existing table is, 86 % of them at first, more as pruning frees room);
* 500 followers touched over and over (the webhook benchmark): 91-118 before, 57-71 after; the
  followers table stayed at 96 kB instead of growing to 3.3 MB.

What the index served: the staff follower list's "oldest first" order, and counts of followers active in
the last few days. At 200,000 followers in one account both now read the table (about 70 ms, as the
default "most recent first" order already did: that index could not serve DESC NULLS LAST).

`fillfactor` applies to pages written from now on; existing pages fill up as before until the table is
rewritten (`VACUUM FULL followers`, which locks it), so nothing is rewritten here.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_followers_last_interaction_at", table_name="followers")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE followers SET (fillfactor = 90)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE followers RESET (fillfactor)")
    op.create_index("ix_followers_last_interaction_at", "followers", ["last_interaction_at"])
