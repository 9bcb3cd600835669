"""The churn backtest on crafted history: half the customers stop coming, and the score finds them."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from scrm import db
from scrm.models import CustomerScore
from scrm.services import analytics_backtest
from scrm.services.accounts import account_id
from scrm.services.errors import Invalid
from tests.factories import make_dealer
from tests.integration.customer_support import make_customer, make_repair_order

pytestmark = pytest.mark.integration

AS_OF = date(2025, 6, 1)
TODAY = date(2026, 6, 30)


def _history() -> tuple[set[int], set[int]]:
    d = make_dealer()
    stopped, stayed = set(), set()
    for i in range(10):
        c = make_customer(d)
        for j in range(6):  # every 90 days, the last one 300 days before the as-of day, then nothing
            make_repair_order(c, AS_OF - timedelta(days=300 + 90 * j), amount=Decimal(500))
        stopped.add(c.id)
        c = make_customer(d)
        for j in range(8):  # every 90 days up to 20 days before, and again after
            make_repair_order(c, AS_OF - timedelta(days=20 + 90 * j), amount=Decimal(500))
        make_repair_order(c, AS_OF + timedelta(days=70 + i))
        stayed.add(c.id)
    make_customer(d)  # no history: not evaluated
    return stopped, stayed


def test_backtest_finds_the_churned(app_ctx: Any) -> None:
    _history()
    with db.transaction() as s:
        r = analytics_backtest.run(s, account_id("demo"), AS_OF, 365, [10, 15], TODAY)
    assert (r.evaluated, r.churned, r.base_rate) == (20, 10, 0.5)
    top10, top15, high = r.rows
    assert (top10.k, top10.churned, top10.precision, top10.lift) == (10, 10, 1.0, 2.0)
    assert (top15.k, top15.churned) == (15, 10) and top15.precision == pytest.approx(10 / 15)
    assert (high.label, high.k, high.precision) == ("high band", 10, 1.0)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CustomerScore)) == 0
    with pytest.raises(Invalid), db.transaction() as s:
        analytics_backtest.run(s, account_id("demo"), AS_OF, 400, [10], TODAY)


def test_backtest_cli(app: Any, monkeypatch: Any) -> None:
    from scrm.cli import main

    with app.app_context():
        _history()
    monkeypatch.setattr("scrm.cli._app", lambda ctx: app)
    runner = CliRunner()
    args = ["analytics", "backtest", "--account", "demo", "--as-of", AS_OF.isoformat(), "--horizon-days", "365",
            "--k", "10", "--k", "1000", "--json", "--today", TODAY.isoformat()]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "20 customers evaluated, 10 churned, base rate 50.0%" in res.stdout
    out = json.loads(res.stdout.splitlines()[-1])
    assert out["at"][0] == {"label": "top 10", "k": 10, "churned": 10, "precision": 1.0, "lift": 2.0}
    assert out["at"][1]["k"] == 20 and out["at"][1]["precision"] == 0.5
    res = runner.invoke(main, [*args[:5], "2026-01-01", "--today", TODAY.isoformat()])
    assert res.exit_code == 1 and "not yet in the past" in res.output
    res = runner.invoke(main, ["analytics", "score", "--account", "demo", "--today", TODAY.isoformat()])
    assert res.exit_code == 0 and "demo: 21 rows" in res.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CustomerScore)) == 21
    assert runner.invoke(main, ["analytics", "score", "--account", "nope"]).exit_code == 1
