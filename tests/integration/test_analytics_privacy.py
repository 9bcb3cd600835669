"""Analytics rows follow the customer: a merge moves tasks and intents to the survivor (and back on undo)
and drops the merged record's score; an erasure deletes tasks, scores, intents and lead scores."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import (
    Budget,
    BuyTimeline,
    ChurnBand,
    CustomerScore,
    Dealer,
    Follower,
    LeadIntent,
    LeadScore,
    Role,
    Task,
    TaskRule,
)
from scrm.services import tasks
from scrm.services.merge import merge_customers
from scrm.services.merge_undo import unmerge
from scrm.services.privacy_erase import erase_customer
from tests.factories import make_dealer, make_follower, make_staff
from tests.integration.customer_support import bind, make_customer

pytestmark = pytest.mark.integration


def _rows(dealer: Dealer, customer_id: int, follower: Follower, key: str) -> None:
    with db.transaction() as s:
        tasks.create(s, tasks.NewTask(account_id=dealer.account_id, dealer_id=dealer.id, rule=TaskRule.MANUAL,
                                      dedupe_key=key, title="回访", due_on=date.today() + timedelta(days=1),
                                      customer_id=customer_id, follower_id=follower.id))
        s.add(CustomerScore(account_id=dealer.account_id, dealer_id=dealer.id, customer_id=customer_id,
                            churn_score=70, churn_band=ChurnBand.HIGH))
        s.add(LeadIntent(account_id=dealer.account_id, dealer_id=dealer.id, follower_id=follower.id,
                         customer_id=customer_id, model="汉EV", budget=Budget.FROM_200K,
                         timeline=BuyTimeline.WITHIN_1M))
        s.add(LeadScore(account_id=dealer.account_id, dealer_id=dealer.id, follower_id=follower.id,
                        customer_id=customer_id, score=55))


def _count(model: type[Any], customer_id: int) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)
                                 .where(model.customer_id == customer_id)) or 0)


def test_merge_moves_tasks_and_intents_and_drops_the_merged_score(app_ctx: Any) -> None:
    dealer = make_dealer()
    manager = make_staff(Role.DEALER_MANAGER, dealer=dealer)
    survivor, merged = make_customer(dealer, name="张伟"), make_customer(dealer, name="张伟")
    f1, f2 = make_follower(dealer_id=dealer.id), make_follower(dealer_id=dealer.id)
    _rows(dealer, survivor.id, f1, "m:1")
    _rows(dealer, merged.id, f2, "m:2")
    record = merge_customers(manager, survivor.id, merged.id)
    db.session.remove()
    assert _count(Task, survivor.id) == 2 and _count(Task, merged.id) == 0
    assert _count(LeadIntent, survivor.id) == 2 and _count(LeadScore, survivor.id) == 2
    assert _count(CustomerScore, survivor.id) == 1 and _count(CustomerScore, merged.id) == 0
    unmerge(manager, record.id)
    db.session.remove()
    assert _count(Task, survivor.id) == 1 and _count(Task, merged.id) == 1
    assert _count(LeadIntent, merged.id) == 1


def test_erasure_deletes_tasks_scores_and_intents(app_ctx: Any) -> None:
    dealer = make_dealer()
    manager = make_staff(Role.DEALER_MANAGER, dealer=dealer)
    c, other = make_customer(dealer, name="李娜"), make_customer(dealer, name="王芳")
    f, f_other = make_follower(dealer_id=dealer.id), make_follower(dealer_id=dealer.id)
    bind(c, f)
    _rows(dealer, c.id, f, "e:1")
    _rows(dealer, other.id, f_other, "e:2")
    with db.transaction() as s:  # an intent saved before the follower bound: no customer id on it yet
        s.execute(sa.update(LeadIntent).where(LeadIntent.follower_id == f.id).values(customer_id=None))
    erase_customer(manager, c.id, confirm=str(c.id), reason="客户要求删除")
    db.session.remove()
    for model in (Task, CustomerScore, LeadIntent, LeadScore):
        assert _count(model, c.id) == 0, model
        assert _count(model, other.id) == 1, model   # another customer's rows stay
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LeadIntent)
                             .where(LeadIntent.follower_id == f.id)) == 0
