"""Reference guards: the parent side of the references of the bulk-written tables (PostgreSQL).

Deliveries and campaign members (below), and the customer data an import writes (see `_CUSTOMER_DATA`).

`deliveries` and `campaign_members` are written a million rows at a time by INSERT ... SELECT. A foreign
key checks every inserted row with a trigger that probes and key-share-locks the referenced row: about 5 µs
per key, eight keys, over half of materialising a campaign (EXPLAIN ANALYZE at 300,000 recipients: 12.7 of
23.3 s). Those rows take their references from a join to the referenced rows themselves (followers,
customers) or from the campaign locked for the run (its account, dealer, journey), and the app deletes none
of accounts, dealers, campaigns, journeys, followers or customers (they are archived, unsubscribed, merged
or erased in place). So these references are checked from the parent's side only: deleting (or renumbering)
a row that a delivery or campaign member still names is refused, with the foreign-key SQLSTATE 23503, as
the foreign key's NO ACTION did. Not covered: TRUNCATE of a parent without CASCADE, and a parent deleted
by hand while a run that names it is still uncommitted.
"""

from __future__ import annotations

FUNCTION = "scrm_refuse_referenced_delete"

# The customer import writes customers, vehicles and timeline entries (repair orders from their own file) by
# COPY, up to a million rows a file; their foreign keys cost 8 trigger probes per imported owner row.
# Their account_id and dealer_id are set once and never changed; their customer_id is changed only by merges
# and unmerges (scrm/services/merge_movers.py), which first lock both customers FOR UPDATE and refuse when
# either is missing, and no app code deletes a customer (erasure blanks it in place). A parent row deleted by
# hand waits for that lock, then its guard sees the moved rows. repair_orders.vehicle_id keeps its foreign
# key: vehicles are deleted by merges and erasure.
_CUSTOMER_DATA = ("customers", "vehicles", "timeline_entries", "repair_orders")

# parent table -> (child table, child column) pairs that name its id
REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "accounts": (("deliveries", "account_id"), *((t, "account_id") for t in _CUSTOMER_DATA)),
    "dealers": (("deliveries", "dealer_id"), *((t, "dealer_id") for t in _CUSTOMER_DATA)),
    "campaigns": (("deliveries", "campaign_id"), ("campaign_members", "campaign_id")),
    "journeys": (("deliveries", "journey_id"),),
    "followers": (("deliveries", "follower_id"), ("campaign_members", "follower_id")),
    "customers": (("campaign_members", "customer_id"), *((t, "customer_id") for t in _CUSTOMER_DATA[1:])),
}

_FUNCTION_SQL = f"""CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  i integer := 0;
  hit boolean;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
    RETURN NEW;
  END IF;
  WHILE i < TG_NARGS LOOP
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I = $1)', TG_ARGV[i], TG_ARGV[i + 1])
      INTO hit USING OLD.id;
    IF hit THEN
      RAISE EXCEPTION '% of "%" id % refused: "%" rows still reference it', lower(TG_OP), TG_TABLE_NAME, OLD.id,
        TG_ARGV[i] USING ERRCODE = 'foreign_key_violation';
    END IF;
    i := i + 2;
  END LOOP;
  IF TG_OP = 'UPDATE' THEN
    RETURN NEW;
  END IF;
  RETURN OLD;
END $$"""  # noqa: S608 (our own constant names; the arguments are quoted by format(%I))


def _trigger(parent: str) -> str:
    return f"guard_{parent}_referenced"


def install_sql() -> list[str]:
    """The statements that create the guard function and one trigger per parent table."""
    out = [_FUNCTION_SQL]
    for parent, refs in REFERENCES.items():
        args = ", ".join(f"'{name}'" for pair in refs for name in pair)
        out.append(f"CREATE TRIGGER {_trigger(parent)} BEFORE DELETE OR UPDATE OF id ON {parent} "
                   f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}({args})")
    return out


def remove_sql() -> list[str]:
    """The statements that drop what install_sql created."""
    return [f"DROP TRIGGER IF EXISTS {_trigger(p)} ON {p}" for p in REFERENCES] + [
        f"DROP FUNCTION IF EXISTS {FUNCTION}()"]
