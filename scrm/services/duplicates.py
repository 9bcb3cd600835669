"""Duplicate detection: candidate pairs among a dealer's live customers, by blocking in SQL.

Never all pairs. Each block is one GROUP BY in the database that returns only the groups of two or more
customers sharing a key (and at most BLOCK_CAP, so a common key never explodes into a huge block):

- `name_birthday`: same folded name and same birthday;
- `plate`: a vehicle with the same plate (similar names are then told apart by scoring);
- `mobile`: the neighbourhood of the mobile: one key per pair of neighbouring digits, the mobile with
  those two digits zeroed. Two mobiles one typed digit apart, or with two neighbours swapped, share
  one of these nine keys (scoring then keeps only those two kinds). Keys are integers (much cheaper to
  build and group than text), and every stored mobile starts with 1 and a 3-9, so the first digit is
  never the typo;
- `landline`: same landline (a household number; the name must match too).

A name alone is never a key (张伟 is thousands of people). Python only scores the candidate pairs
(scrm.services.duplicates_score) and the result is upserted into DuplicatePair: OPEN pairs get the new
score, DISMISSED and MERGED pairs are left alone (never re-opened), and OPEN pairs that were not found
again (a customer was merged, erased or edited) are removed.
"""

# ruff: noqa: S608  -- the blocking SQL is assembled from constants only; the dealer id is a bound parameter
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Customer, Dealer, DuplicatePair, PairStatus, Vehicle
from scrm.services.duplicates_score import Person, Scored, score_pair

BLOCK_CAP = 30
LANDLINE_CAP = 6
CHUNK = 5000

Progress = Callable[[str], None]

_LIVE = "dealer_id = :dealer AND merged_into_id IS NULL AND erased_at IS NULL"
# digit position k (1 = first) of an 11-digit mobile and its place value p = 10^(11-k)
_POSITIONS = "pos(k, p) AS (VALUES " + ", ".join(f"({k}, {10 ** (11 - k)})" for k in range(1, 12)) + ")"
_TAG = 10 ** 11  # keys are numbers: the mobile with digit k zeroed (or k, k+1 sorted) plus a tag per kind and k


def _blocks(dialect: str) -> dict[str, str]:
    """The blocking queries: each returns one row per block, the member ids joined by commas."""
    pg = dialect == "postgresql"
    agg = "string_agg(CAST(id AS TEXT), ',')" if pg else "group_concat(id, ',')"
    owners = "string_agg(DISTINCT CAST(customer_id AS TEXT), ',')" if pg else "group_concat(DISTINCT customer_id)"
    materialized = "MATERIALIZED " if pg else ""  # compute each mobile's number once, not once per position
    digits11 = "mobile ~ '^[0-9]{11}$'" if pg else "mobile GLOB '" + "[0-9]" * 11 + "'"
    # ids are integers from our own table: the text form is parsed back with int().
    return {
        "name_birthday": f"""
            SELECT {agg} FROM customers WHERE {_LIVE} AND name IS NOT NULL AND birthday IS NOT NULL
            GROUP BY lower(replace(name, ' ', '')), birthday HAVING count(*) BETWEEN 2 AND :cap""",
        "plate": f"""
            SELECT {owners} FROM vehicles WHERE dealer_id = :dealer AND plate IS NOT NULL AND customer_id IN (
                SELECT id FROM customers WHERE {_LIVE})
            GROUP BY plate HAVING count(DISTINCT customer_id) BETWEEN 2 AND :cap""",
        "mobile": f"""
            WITH {_POSITIONS},
            m AS {materialized}(SELECT id, CAST(mobile AS BIGINT) AS n FROM customers WHERE {_LIVE} AND {digits11}),
            keys AS (
                SELECT id, k * {_TAG} + n - ((n / p) % 10) * p - ((n / (p / 10)) % 10) * (p / 10) AS key
                FROM m, pos WHERE k BETWEEN 2 AND 10)
            SELECT {agg} FROM keys GROUP BY key HAVING count(*) BETWEEN 2 AND :cap""",
        "landline": f"""
            SELECT {agg} FROM customers WHERE {_LIVE} AND landline IS NOT NULL
            GROUP BY landline HAVING count(*) BETWEEN 2 AND :small_cap""",
    }


@dataclass
class DetectionResult:
    """What one run found: candidate pairs per block, pairs stored, how long it took."""

    dealer_id: int
    customers: int = 0
    candidates: dict[str, int] = field(default_factory=dict)
    pairs: int = 0
    exact: int = 0
    removed: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The figures as plain data (for the page, the CLI and the audit detail)."""
        return {"customers": self.customers, "candidates": sum(self.candidates.values()), "pairs": self.pairs,
                "exact": self.exact, "removed": self.removed, "seconds": round(self.seconds, 2)}


def candidate_pairs(s: Session, dealer_id: int, result: DetectionResult | None = None,
                    progress: Progress | None = None) -> set[tuple[int, int]]:
    """All (low id, high id) pairs sharing a block key among the dealer's live customers."""
    pairs: set[tuple[int, int]] = set()
    params = {"dealer": dealer_id, "cap": BLOCK_CAP, "small_cap": LANDLINE_CAP}
    for name, sql in _blocks(s.get_bind().dialect.name).items():
        before, started = len(pairs), time.perf_counter()
        for (members,) in s.execute(sa.text(sql), params):
            ids = sorted({int(x) for x in str(members).split(",")})
            pairs.update((a, b) for i, a in enumerate(ids) for b in ids[i + 1:])
        if result is not None:
            result.candidates[name] = len(pairs) - before
        if progress:
            progress(f"block {name}: {len(pairs) - before} new candidate pairs ({time.perf_counter() - started:.1f}s)")
    return pairs


def _chunks(items: list[int], size: int = CHUNK) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def load_people(s: Session, ids: Iterable[int]) -> dict[int, Person]:
    """The scoring features of these customers (names, mobiles, plates ...), loaded in chunks."""
    wanted = sorted(set(ids))
    plates: dict[int, set[str]] = {}
    people: dict[int, Person] = {}
    for chunk in _chunks(wanted):
        for cid, plate in s.execute(sa.select(Vehicle.customer_id, Vehicle.plate).where(
                Vehicle.customer_id.in_(chunk), Vehicle.plate.is_not(None))):
            if plate:
                plates.setdefault(cid, set()).add(plate)
        cols = (Customer.id, Customer.name, Customer.mobile, Customer.landline, Customer.birthday,
                Customer.city, Customer.gender)
        for row in s.execute(sa.select(*cols).where(Customer.id.in_(chunk))):
            people[row.id] = Person(id=row.id, name=row.name, mobile=row.mobile, landline=row.landline,
                                    birthday=row.birthday, city=row.city,
                                    gender=row.gender.value if row.gender else None,
                                    plates=frozenset(plates.get(row.id, ())))
    return people


def score_candidates(people: dict[int, Person], pairs: Iterable[tuple[int, int]]) -> list[Scored]:
    """Score each candidate pair; keep those at or above the threshold."""
    out = []
    for a, b in pairs:
        if a in people and b in people:
            scored = score_pair(people[a], people[b])
            if scored is not None:
                out.append(scored)
    return out


def _insert(s: Session) -> Any:
    return postgresql.insert(DuplicatePair) if s.get_bind().dialect.name == "postgresql" \
        else sqlite.insert(DuplicatePair)


def store_pairs(s: Session, dealer: Dealer, scored: list[Scored], run_started: Any) -> int:
    """Upsert the scored pairs (OPEN ones only change) and remove OPEN pairs not found again."""
    for i in range(0, len(scored), CHUNK):
        rows = [{"account_id": dealer.account_id, "dealer_id": dealer.id, "first_id": p.first_id,
                 "second_id": p.second_id, "kind": p.kind, "score": p.score, "reasons": list(p.reasons),
                 "status": PairStatus.OPEN, "detected_at": run_started} for p in scored[i:i + CHUNK]]
        stmt = _insert(s)
        stmt = stmt.on_conflict_do_update(
            index_elements=["dealer_id", "first_id", "second_id"],
            set_={"kind": stmt.excluded.kind, "score": stmt.excluded.score, "reasons": stmt.excluded.reasons,
                  "detected_at": stmt.excluded.detected_at},
            where=DuplicatePair.status == PairStatus.OPEN)
        s.execute(stmt, rows)
    gone = s.execute(sa.delete(DuplicatePair).where(
        DuplicatePair.dealer_id == dealer.id, DuplicatePair.status == PairStatus.OPEN,
        DuplicatePair.detected_at < run_started))
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]


def detect(dealer_id: int, progress: Progress | None = None) -> DetectionResult:
    """Find, score and store the duplicate pairs of one dealer; one transaction."""
    started = time.perf_counter()
    result = DetectionResult(dealer_id=dealer_id)
    with db.transaction() as s:
        dealer = s.get(Dealer, dealer_id)
        if dealer is None:
            raise ValueError(f"no dealer {dealer_id}")
        run_started = db.utcnow()
        result.customers = int(s.scalar(sa.select(sa.func.count()).select_from(Customer).where(
            Customer.dealer_id == dealer_id, Customer.merged_into_id.is_(None), Customer.erased_at.is_(None))) or 0)
        if progress:
            progress(f"{result.customers} live customers")
        pairs = candidate_pairs(s, dealer_id, result, progress)
        step = time.perf_counter()
        people = load_people(s, (i for pair in pairs for i in pair))
        scored = score_candidates(people, pairs)
        if progress:
            progress(f"{len(pairs)} candidate pairs scored, {len(scored)} kept ({time.perf_counter() - step:.1f}s)")
        step = time.perf_counter()
        result.removed = store_pairs(s, dealer, scored, run_started)
        if progress:
            progress(f"pairs stored ({time.perf_counter() - step:.1f}s)")
        result.pairs = len(scored)
        result.exact = sum(1 for p in scored if p.kind.value == "exact")
    result.seconds = time.perf_counter() - started
    return result
