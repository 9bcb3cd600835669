"""`scrm dedupe`: one dealer by code, or all; a JSON summary per dealer."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from scrm import db
from scrm.models import DuplicatePair
from tests.factories import make_dealer
from tests.integration.customer_support import make_customer

pytestmark = pytest.mark.integration


def test_dedupe_command(app: Any, settings_dict: dict[str, Any], tmp_path: Any, monkeypatch: Any) -> None:
    from scrm.cli import main

    a, b = make_dealer(code="CLIA"), make_dealer(code="CLIB")
    for dealer in (a, b):
        make_customer(dealer, name="王芳", mobile=f"1371234567{dealer.id % 10}")
        make_customer(dealer, name="王芳", mobile=f"1371234568{dealer.id % 10}")
    runner = CliRunner()
    monkeypatch.setattr("scrm.cli._app", lambda ctx: app)
    res = runner.invoke(main, ["dedupe", "--dealer", "CLIA"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    assert lines == [{**lines[0], "dealer": "CLIA", "customers": 2, "pairs": 1}]
    db.session.remove()
    assert {p.dealer_id for p in db.session.scalars(sa.select(DuplicatePair))} == {a.id}
    res = runner.invoke(main, ["dedupe", "--all", "--quiet"])
    assert res.exit_code == 0 and len(res.stdout.splitlines()) == 2
    assert runner.invoke(main, ["dedupe"]).exit_code == 2
    assert runner.invoke(main, ["dedupe", "--dealer", "NOPE"]).exit_code == 1
