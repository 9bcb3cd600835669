"""The parent-side reference guards of deliveries and campaign members (scrm/models/guards.py), on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from scrm import db
from scrm.models import (
    Campaign,
    CampaignChannel,
    CampaignMember,
    Channel,
    Customer,
    Dealer,
    Delivery,
    Follower,
    Journey,
    JourneyKind,
)
from scrm.models.guards import REFERENCES
from scrm.outbox.enqueue import enqueue
from scrm.services.accounts import account_id
from tests.factories import make_dealer, make_follower
from tests.integration.customer_support import make_customer

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _postgres_only(app_ctx: Any) -> None:
    if db.engine().dialect.name != "postgresql":
        pytest.skip("the guards are PostgreSQL triggers; SQLite keeps no such references")


def _campaign(dealer: Dealer) -> int:
    with db.transaction() as s:
        c = Campaign(account_id=account_id("demo"), dealer_id=dealer.id, name="保养提醒",
                     channel=CampaignChannel.CUSTOM, variants=[])
        s.add(c)
        s.flush()
        return c.id


def _world() -> tuple[Dealer, Follower, Customer, int]:
    d = make_dealer()
    f = make_follower(dealer_id=d.id)
    c = make_customer(d)
    cid = _campaign(d)
    with db.transaction() as s:
        enqueue(s, account_id=account_id("demo"), dedupe_key=f"c:{cid}:1:{f.id}", channel=Channel.CUSTOM,
                purpose="campaign", dealer_id=d.id, follower_id=f.id, openid=f.openid, payload={"text": "您好"})
        s.execute(sa.update(Delivery).where(Delivery.dedupe_key == f"c:{cid}:1:{f.id}").values(campaign_id=cid))
        s.add(CampaignMember(campaign_id=cid, occurrence=1, follower_id=f.id, customer_id=c.id, arm="A"))
    return d, f, c, cid


def _delete(table: str, row_id: int) -> None:
    with db.transaction() as s:
        s.execute(sa.text(f"DELETE FROM {table} WHERE id = :id"), {"id": row_id})  # noqa: S608 (test's own names)


@pytest.mark.parametrize("table", ["followers", "customers", "campaigns", "dealers"])
def test_a_referenced_row_cannot_be_deleted_and_stays(table: str) -> None:
    d, f, c, cid = _world()
    row_id = {"followers": f.id, "customers": c.id, "campaigns": cid, "dealers": d.id}[table]
    with pytest.raises(IntegrityError) as err:
        _delete(table, row_id)
    assert getattr(err.value.orig, "sqlstate", None) == "23503"   # foreign_key_violation, as a foreign key says
    assert "still reference it" in str(err.value)
    with db.transaction() as s:
        assert s.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE id = :id"), {"id": row_id}) == 1  # noqa: S608


def test_an_id_cannot_be_renumbered_under_its_references_but_other_columns_change() -> None:
    _d, f, _c, _cid = _world()
    with pytest.raises(IntegrityError), db.transaction() as s:
        s.execute(sa.text("UPDATE followers SET id = id + 100000 WHERE id = :id"), {"id": f.id})
    with db.transaction() as s:
        s.execute(sa.update(Follower).where(Follower.id == f.id).values(remark="老客户"))
        assert s.scalar(sa.select(Follower.remark).where(Follower.id == f.id)) == "老客户"


def test_unreferenced_rows_delete_and_so_do_rows_whose_references_are_gone() -> None:
    d, f, c, cid = _world()
    with db.transaction() as s:   # a journey nothing names yet
        j = Journey(account_id=account_id("demo"), dealer_id=d.id, kind=JourneyKind.WELCOME)
        s.add(j)
        s.flush()
        jid = j.id
    _delete("journeys", jid)
    with db.transaction() as s:
        s.execute(sa.delete(Delivery).where(Delivery.follower_id == f.id))
        s.execute(sa.delete(CampaignMember).where(CampaignMember.follower_id == f.id))
    for table, row_id in (("followers", f.id), ("customers", c.id), ("campaigns", cid)):
        _delete(table, row_id)
    with db.transaction() as s:
        assert [s.scalar(sa.select(sa.func.count()).select_from(m).where(m.id == i))
                for m, i in ((Follower, f.id), (Customer, c.id), (Campaign, cid))] == [0, 0, 0]


def test_every_guarded_reference_has_a_trigger_and_no_foreign_key_checks_the_bulk_rows() -> None:
    with db.engine().connect() as conn:
        triggers = {r[0] for r in conn.execute(sa.text(
            "SELECT tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE 'guard_%_referenced'"))}
        fks = conn.execute(sa.text(
            "SELECT conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid::regclass::text IN ('deliveries', 'campaign_members')")).all()
    assert triggers == set(REFERENCES)
    assert fks == []
