"""Duplicate detection against the database: planted pairs are found, strangers are not paired,
dismissed pairs stay dismissed, pairs of merged or erased customers go, dealers never mix."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Customer, DuplicatePair, PairKind, PairStatus
from scrm.services import duplicates
from tests.factories import make_dealer
from tests.integration.customer_support import make_customer, make_vehicle

pytestmark = pytest.mark.integration


def pairs(dealer_id: int) -> dict[tuple[int, int], DuplicatePair]:
    db.session.remove()
    return {(p.first_id, p.second_id): p for p in db.session.scalars(
        sa.select(DuplicatePair).where(DuplicatePair.dealer_id == dealer_id))}


@pytest.fixture
def planted(app: Any) -> dict[str, Any]:
    a = make_dealer(code="QA")
    b = make_dealer(code="QB")
    out: dict[str, Any] = {"a": a, "b": b}
    out["zhang"] = make_customer(a, name="张伟", mobile="13800000001")
    make_vehicle(out["zhang"], plate="沪A12345")
    out["zhang2"] = make_customer(a, name="章伟", mobile="13900000002")       # homophone, same plate
    make_vehicle(out["zhang2"], plate="沪A12345")
    out["wang"] = make_customer(a, name="王芳", mobile="13812345678")
    out["wang2"] = make_customer(a, name="王芳", mobile="13812345679")        # mobile typo
    out["li"] = make_customer(a, name="李娜", mobile="13700000003", birthday=date(1985, 3, 1))
    out["li2"] = make_customer(a, name="李娜", mobile="13600000004", birthday=date(1985, 3, 1))  # name+birthday
    out["swap"] = make_customer(a, name="赵强", mobile="13555550012")
    out["swap2"] = make_customer(a, name="赵强", mobile="13555550021")        # transposed digits
    # strangers: a family car, a neighbour's mobile, a namesake
    out["family"] = make_customer(a, name="刘洋", mobile="13300000005")
    make_vehicle(out["family"], plate="沪A12345")
    out["neighbour"] = make_customer(a, name="陈静", mobile="13812345670")
    out["namesake"] = make_customer(a, name="张伟", mobile="15000000006")
    # dealer B has the same people: never paired across dealers
    out["b_wang"] = make_customer(b, name="王芳", mobile="13812345678")
    return out


def ids(out: dict[str, Any], x: str, y: str) -> tuple[int, int]:
    a, b = out[x].id, out[y].id
    return (a, b) if a < b else (b, a)


def test_detection_finds_planted_pairs_and_nothing_else(planted: dict[str, Any]) -> None:
    result = duplicates.detect(planted["a"].id)
    found = pairs(planted["a"].id)
    expected = {ids(planted, "zhang", "zhang2"), ids(planted, "wang", "wang2"), ids(planted, "li", "li2"),
                ids(planted, "swap", "swap2")}
    assert set(found) == expected
    assert result.pairs == 4 and result.customers == 11
    assert found[ids(planted, "li", "li2")].kind == PairKind.EXACT
    assert found[ids(planted, "zhang", "zhang2")].reasons == ["homophone_name", "same_plate"]
    assert found[ids(planted, "swap", "swap2")].reasons == ["same_name", "mobile_transposed"]
    assert all(p.first_id < p.second_id and p.status == PairStatus.OPEN for p in found.values())
    assert pairs(planted["b"].id) == {}
    assert result.candidates["plate"] == 3  # the family car is a candidate, scored out
    assert result.candidates["mobile"] >= 3


def test_redetection_updates_open_keeps_dismissed_and_drops_stale(planted: dict[str, Any]) -> None:
    a = planted["a"].id
    duplicates.detect(a)
    key_w, key_l = ids(planted, "wang", "wang2"), ids(planted, "li", "li2")
    with db.transaction() as s:
        pair = s.scalar(sa.select(DuplicatePair).where(DuplicatePair.first_id == key_w[0],
                                                       DuplicatePair.second_id == key_w[1]))
        assert pair is not None
        pair.status = PairStatus.DISMISSED
        s.get(Customer, planted["li2"].id).erased_at = db.utcnow()  # type: ignore[union-attr]
    result = duplicates.detect(a)
    found = pairs(a)
    assert found[key_w].status == PairStatus.DISMISSED          # never re-opened
    assert key_l not in found and result.removed == 1            # erased customer: pair gone
    assert len([p for p in found.values() if p.status == PairStatus.OPEN]) == 2
    duplicates.detect(a)
    assert len(pairs(a)) == 3                                     # idempotent


def test_block_cap_skips_huge_blocks(app: Any) -> None:
    d = make_dealer()
    for i in range(duplicates.BLOCK_CAP + 1):
        c = make_customer(d, name="张伟", mobile=f"1860000{i:04d}")
        make_vehicle(c, plate="沪A88888")
    result = duplicates.detect(d.id)
    assert result.candidates["plate"] == 0  # one plate on 31 customers is a fleet, not a person


def test_detect_now_in_the_background_and_one_run_at_a_time(planted: dict[str, Any], monkeypatch: Any) -> None:
    import time

    from scrm import runtime
    from scrm.models import Role
    from scrm.services import duplicates_run
    from tests.factories import make_staff

    manager = make_staff(role=Role.DEALER_MANAGER, dealer=planted["a"])
    dealer_id = planted["a"].id
    lock = runtime.get().key("dedupe", "lock", dealer_id)
    runtime.get().redis.set(lock, "someone else")
    with pytest.raises(duplicates_run.DetectionBusy):
        duplicates_run.start_detection(manager, dealer_id)
    runtime.get().redis.delete(lock)
    monkeypatch.setattr(duplicates_run, "SYNC_LIMIT", 0)  # every dealer is "big": a background thread
    state = duplicates_run.start_detection(manager, dealer_id)
    assert state["state"] in ("running", "done")
    deadline = time.monotonic() + 30
    while (duplicates_run.status(dealer_id) or {}).get("state") != "done" and time.monotonic() < deadline:
        time.sleep(0.1)
    status = duplicates_run.status(dealer_id)
    assert status is not None and status["state"] == "done" and status["summary"]["pairs"] == 4
    assert not runtime.get().redis.exists(lock)
    assert len(pairs(dealer_id)) == 4


def test_each_block_proposes_its_candidates(app: Any) -> None:
    from scrm.services.duplicates import DetectionResult, candidate_pairs

    d = make_dealer()
    nb = [make_customer(d, name=n, birthday=date(1970, 7, 7), mobile=None) for n in ("周杰", "周 杰")]  # folded
    ll = [make_customer(d, name=n, landline="021-58881234", mobile=None) for n in ("吴敏", "吴敏")]
    pl = [make_customer(d, name=n, mobile=None) for n in ("孙丽", "孙莉")]
    for c in pl:
        make_vehicle(c, plate="沪C55555")
    mb = [make_customer(d, name="郑强", mobile=m) for m in ("15011112223", "15011112232", "15011112243")]
    result = DetectionResult(dealer_id=d.id)
    with db.transaction() as s:
        found = candidate_pairs(s, d.id, result)

    def key(a: Customer, b: Customer) -> tuple[int, int]:
        return (min(a.id, b.id), max(a.id, b.id))

    assert key(*nb) in found and key(*ll) in found and key(*pl) in found
    assert key(mb[0], mb[1]) in found and key(mb[0], mb[2]) in found  # two digits swapped; one digit
    assert key(mb[1], mb[2]) in found  # two neighbouring digits differ: a candidate, but no typo ...
    assert result.candidates == {"name_birthday": 1, "plate": 1, "mobile": 3, "landline": 1}
    duplicates.detect(d.id)
    stored = pairs(d.id)
    assert key(mb[0], mb[1]) in stored and key(mb[0], mb[2]) in stored
    assert key(mb[1], mb[2]) not in stored  # ... so scoring drops it
