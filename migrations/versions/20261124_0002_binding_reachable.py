"""binding reachable: the follower's reachability kept on customer_bindings by triggers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 00:00:00

A segment count joins every matching customer to its bindings; reading whether the bound follower can be
reached from the bindings' index saves probing the followers table once per contact (about a fifth of a
1,000,000-customer count). `customer_bindings.reachable` is the bound follower's
`subscribed AND NOT opt_out_marketing`, kept by the database on both sides:

* a binding inserted (or pointed at another follower, or its flag written) takes the follower's state;
  on PostgreSQL it locks the follower row as an update of it would, so a concurrent change of the
  follower's state either waits for the binding or is waited for and then seen;
* a change of a follower's `subscribed` or `opt_out_marketing` rewrites its bindings.

At 1,000,000 bindings the upgrade took 18 s on the development machine (the backfill rewrites every binding and
the index is rebuilt; writes to customer_bindings wait meanwhile).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PG = [
    """CREATE FUNCTION scrm_binding_reachable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT f.subscribed AND NOT f.opt_out_marketing INTO NEW.reachable
    FROM followers f WHERE f.id = NEW.follower_id FOR NO KEY UPDATE;
  NEW.reachable := coalesce(NEW.reachable, false);
  RETURN NEW;
END $$""",
    "CREATE TRIGGER binding_reachable BEFORE INSERT OR UPDATE OF follower_id, reachable ON customer_bindings "
    "FOR EACH ROW EXECUTE FUNCTION scrm_binding_reachable()",
    """CREATE FUNCTION scrm_follower_reachable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE customer_bindings SET reachable = coalesce(NEW.subscribed AND NOT NEW.opt_out_marketing, false)
   WHERE follower_id = NEW.id
     AND reachable IS DISTINCT FROM coalesce(NEW.subscribed AND NOT NEW.opt_out_marketing, false);
  RETURN NULL;
END $$""",
    "CREATE TRIGGER follower_reachable AFTER UPDATE OF subscribed, opt_out_marketing ON followers FOR EACH ROW "
    "WHEN (OLD.subscribed IS DISTINCT FROM NEW.subscribed OR OLD.opt_out_marketing IS DISTINCT FROM "
    "NEW.opt_out_marketing) EXECUTE FUNCTION scrm_follower_reachable()",
]

# SQLite: one writer at a time, so no locking; AFTER triggers write the flag (a BEFORE trigger cannot set NEW)
_SQLITE = [
    """CREATE TRIGGER binding_reachable_insert AFTER INSERT ON customer_bindings FOR EACH ROW BEGIN
  UPDATE customer_bindings SET reachable = coalesce((SELECT f.subscribed AND NOT f.opt_out_marketing
    FROM followers f WHERE f.id = NEW.follower_id), 0) WHERE id = NEW.id;
END""",
    """CREATE TRIGGER binding_reachable_update AFTER UPDATE OF follower_id, reachable ON customer_bindings
FOR EACH ROW BEGIN
  UPDATE customer_bindings SET reachable = coalesce((SELECT f.subscribed AND NOT f.opt_out_marketing
    FROM followers f WHERE f.id = NEW.follower_id), 0) WHERE id = NEW.id;
END""",
    """CREATE TRIGGER follower_reachable AFTER UPDATE OF subscribed, opt_out_marketing ON followers FOR EACH ROW
BEGIN
  UPDATE customer_bindings SET reachable = coalesce(NEW.subscribed AND NOT NEW.opt_out_marketing, 0)
   WHERE follower_id = NEW.id AND reachable IS NOT coalesce(NEW.subscribed AND NOT NEW.opt_out_marketing, 0);
END""",
]

_BACKFILL = """UPDATE customer_bindings SET reachable = coalesce((
  SELECT f.subscribed AND NOT f.opt_out_marketing FROM followers f WHERE f.id = customer_bindings.follower_id),
  false)"""


def upgrade() -> None:
    # plain ALTER TABLE on both databases (SQLite adds a NOT NULL column with a default in place)
    op.add_column('customer_bindings', sa.Column('reachable', sa.Boolean(), server_default=sa.false(),
                                                 nullable=False))
    op.drop_index('ix_customer_bindings_customer_id', table_name='customer_bindings')
    op.create_index('ix_customer_bindings_customer_id', 'customer_bindings', ['customer_id', 'follower_id'],
                    unique=False, postgresql_include=['reachable'])
    op.execute(_BACKFILL)
    for stmt in _PG if op.get_bind().dialect.name == "postgresql" else _SQLITE:
        op.execute(stmt)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS follower_reachable ON followers")
        op.execute("DROP TRIGGER IF EXISTS binding_reachable ON customer_bindings")
        op.execute("DROP FUNCTION IF EXISTS scrm_follower_reachable()")
        op.execute("DROP FUNCTION IF EXISTS scrm_binding_reachable()")
    else:
        for name in ("follower_reachable", "binding_reachable_update", "binding_reachable_insert"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index('ix_customer_bindings_customer_id', table_name='customer_bindings')
    op.create_index('ix_customer_bindings_customer_id', 'customer_bindings', ['customer_id', 'follower_id'],
                    unique=False)
    op.drop_column('customer_bindings', 'reachable')   # SQLite >= 3.35 drops a column in place
