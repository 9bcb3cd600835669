"""Segment conditions on the nightly scores: churn band, churn risk and value segment; a customer without a
score row matches only `empty`."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import ChurnBand, Customer, CustomerScore, ValueSegment
from scrm.services.accounts import account_id
from scrm.services.analytics_common import churn_band
from scrm.services.segment_check import normalise
from scrm.services.segment_compile import Env, audience
from scrm.services.segment_fields import field
from tests.factories import make_dealer
from tests.integration.customer_support import make_customer

pytestmark = pytest.mark.integration


def _scored(dealer: Any, score: int, segment: ValueSegment) -> Customer:
    c = make_customer(dealer)
    with db.transaction() as s:
        s.add(CustomerScore(account_id=c.account_id, dealer_id=c.dealer_id, customer_id=c.id, churn_score=score,
                            churn_band=churn_band(score), value_segment=segment))
    return c


def _ids(definition: dict[str, Any]) -> set[int]:
    db.session.remove()
    env = Env(postgres=db.session.get_bind().dialect.name == "postgresql", today=date(2026, 6, 30),
              tz=ZoneInfo("Asia/Shanghai"))
    q = audience(normalise(definition), account_id=account_id("demo"), dealer_id=None, env=env)
    return {r.customer_id for r in db.session.execute(q)}


def test_score_fields(app_ctx: Any) -> None:
    d = make_dealer()
    high = [_scored(d, 75, ValueSegment.IMPORTANT_KEEP), _scored(d, 60, ValueSegment.GENERAL_RETAIN)]
    medium = _scored(d, 45, ValueSegment.IMPORTANT_VALUE)
    low = _scored(d, 10, ValueSegment.IMPORTANT_VALUE)
    unscored = make_customer(d)
    assert field("churn_band") is not None and field("churn_band").choices == "churn_band"  # type: ignore[union-attr]

    def rule(f: str, op: str, value: Any = None) -> dict[str, Any]:
        r: dict[str, Any] = {"field": f, "op": op}
        if value is not None:
            r["value"] = value
        return {"match": "all", "rules": [r]}

    assert _ids(rule("churn_band", "in", [ChurnBand.HIGH.value])) == {c.id for c in high}
    assert _ids(rule("churn_band", "not_in", ["high"])) == {medium.id, low.id}
    assert _ids(rule("churn_risk", "gte", 45)) == {high[0].id, high[1].id, medium.id}
    assert _ids(rule("churn_risk", "lt", 45)) == {low.id}
    assert _ids(rule("churn_risk", "empty")) == {unscored.id}
    assert _ids(rule("value_segment", "in", ["important_value"])) == {medium.id, low.id}
    either = {"match": "any", "rules": [rule("churn_band", "in", ["high"]), rule("churn_risk", "empty")]}
    assert _ids(either) == {high[0].id, high[1].id, unscored.id}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CustomerScore)) == 4
