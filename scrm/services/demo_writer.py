"""Puts generated demo records in the database: COPY in batches on PostgreSQL, executemany elsewhere.

Only customers, vehicles and followers are referred to by other rows, so only their ids are taken in
advance (from the table's sequence on PostgreSQL, after the largest id on SQLite); every other row
gets its id from the database.
"""

from __future__ import annotations

import enum
import json
import math
import random
from collections.abc import Iterable
from datetime import UTC, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.models import (
    Customer,
    CustomerBinding,
    Dealer,
    Follower,
    MessageLog,
    RepairOrder,
    StaffNote,
    TimelineEntry,
    Vehicle,
)
from scrm.services import demo_pools as P
from scrm.services.demo_generator import DealerSpec, GenCustomer

IMPORT_TITLE = "Imported from a file"  # the import's own msgid, so the demo timeline reads like a real one
NOTE_TITLE = "Staff note"
DEALERS_PER_10K = 3


class Writer:
    """Writes batches of generated customers of one account with one session (the caller commits)."""

    def __init__(self, s: Session, account_id: int) -> None:
        self.account_id = account_id
        self.pg = s.get_bind().dialect.name == "postgresql"
        self.counts: dict[str, int] = {}

    def _ids(self, s: Session, table: sa.Table, n: int) -> list[int]:
        if n == 0:
            return []
        if self.pg:
            seq = sa.text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)")
            return list(s.scalars(seq, {"t": table.name, "n": n}))
        first = int(s.scalar(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))) or 0) + 1
        return list(range(first, first + n))

    def write(self, s: Session, batch: list[GenCustomer]) -> None:
        """Insert one batch: customers, vehicles, history, followers, bindings, messages, timeline, notes."""
        acc = self.account_id
        rows: dict[sa.Table, list[dict[str, Any]]] = {t: [] for t in _TABLES}
        customer_ids = self._ids(s, _C, len(batch))
        vehicle_ids = iter(self._ids(s, _V, sum(len(c.vehicles) for c in batch)))
        follower_ids = iter(self._ids(s, _F, sum(1 for c in batch if c.follower)))
        for c, cid in zip(batch, customer_ids, strict=True):
            d = c.dealer.id
            rows[_C].append(dict(id=cid, account_id=acc, dealer_id=d, external_id=c.external_id, name=c.name,
                                 mobile=c.mobile, landline=c.landline, gender=c.gender, birthday=c.birthday,
                                 city=c.city, source=c.source, stage=c.stage, tags=c.tags, created_at=c.created_at,
                                 updated_at=c.updated_at, consent_at=c.follower.bound_at if c.follower else None))
            rows[_T].append(dict(account_id=acc, dealer_id=d, customer_id=cid, kind="import.created",
                                 title=IMPORT_TITLE, detail={"file": "dms-export.csv", "line": c.number},
                                 occurred_at=c.created_at, created_at=c.created_at))
            if c.note:
                rows[_T].append(dict(account_id=acc, dealer_id=d, customer_id=cid, kind="note", title=NOTE_TITLE,
                                     detail={"text": c.note}, occurred_at=c.updated_at, created_at=c.updated_at))
                rows[_N].append(dict(account_id=acc, dealer_id=d, customer_id=cid, text=c.note,
                                     created_at=c.updated_at))
            for v in c.vehicles:
                vid = next(vehicle_ids)
                rows[_V].append(dict(id=vid, account_id=acc, dealer_id=d, customer_id=cid, vin=v.vin, plate=v.plate,
                                     brand=v.brand, model=v.model, model_year=v.model_year,
                                     purchase_date=v.purchase_date, mileage=v.mileage, mileage_date=v.mileage_date,
                                     last_service_date=v.last_service_date,
                                     last_service_mileage=v.last_service_mileage,
                                     insurance_expiry=v.insurance_expiry, warranty_expiry=v.warranty_expiry,
                                     created_at=c.created_at, updated_at=c.updated_at))
                for r in v.repairs:
                    rows[_R].append(dict(account_id=acc, dealer_id=d, customer_id=cid, vehicle_id=vid,
                                         external_id=r.external_id, date=r.date, type=r.type, amount=r.amount,
                                         mileage=r.mileage, advisor=r.advisor,
                                         created_at=datetime.combine(r.date, time(18), tzinfo=UTC)))
            f = c.follower
            if f is not None:
                fid = next(follower_ids)
                last = f.messages[-1][0] if f.messages else f.bound_at
                rows[_F].append(dict(id=fid, account_id=acc, openid=f.openid, subscribed=f.subscribed,
                                     subscribed_at=f.subscribed_at, first_subscribed_at=f.subscribed_at,
                                     unsubscribed_at=f.unsubscribed_at, scene=f"dealer:{c.dealer.code}",
                                     scene_kind="dealer", dealer_id=d, last_interaction_at=last,
                                     interaction_kind="message" if f.messages else "follow",
                                     last_message_at=f.messages[-1][0] if f.messages else None,
                                     created_at=f.subscribed_at))
                rows[_B].append(dict(account_id=acc, dealer_id=d, follower_id=fid, customer_id=cid,
                                     method=f.method, bound_at=f.bound_at))
                for at, direction, text in f.messages:
                    rows[_M].append(dict(account_id=acc, follower_id=fid, direction=direction, msg_type="text",
                                         content=text, created_at=at))
        for table in _TABLES:
            self._insert(s, table, rows[table])
            self.counts[table.name] = self.counts.get(table.name, 0) + len(rows[table])

    def _insert(self, s: Session, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        columns, defaults = _shape(table, with_id="id" in rows[0])
        if not self.pg:
            s.execute(table.insert(), [{c: r.get(c, defaults[c]) for c in columns} for r in rows])
            return
        json_columns = {c.name for c in table.columns if isinstance(c.type, sa.JSON)}
        plain = [(c, defaults[c]) for c in columns if c not in json_columns]
        encoded = [(c, defaults[c]) for c in columns if c in json_columns]
        raw: Any = s.connection().connection.driver_connection
        names = ", ".join([c for c, _ in plain] + [c for c, _ in encoded])
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row([r.get(c, d) for c, d in plain]
                               + [json.dumps(r.get(c, d), ensure_ascii=False) for c, d in encoded])


def _table(model: Any) -> sa.Table:
    table: sa.Table = model.__table__
    return table


_C, _V, _R = _table(Customer), _table(Vehicle), _table(RepairOrder)
_F, _B, _M = _table(Follower), _table(CustomerBinding), _table(MessageLog)
_T, _N = _table(TimelineEntry), _table(StaffNote)
_TABLES = (_C, _V, _R, _F, _B, _M, _T, _N)  # parents first
_SHAPES: dict[tuple[str, bool], tuple[list[str], dict[str, Any]]] = {}


def _shape(table: sa.Table, *, with_id: bool) -> tuple[list[str], dict[str, Any]]:
    """The columns to write and the model's Python-side defaults (COPY does not apply them)."""
    key = (table.name, with_id)
    if key not in _SHAPES:
        # a column only the database fills (a server default, e.g. the bindings' `reachable`, which a trigger
        # keeps) is left out, so the database fills it
        columns = [c.name for c in table.columns if (with_id or c.name != "id")
                   and not (c.server_default is not None and c.default is None)]
        defaults: dict[str, Any] = {}
        for c in table.columns:
            default = c.default
            value = None
            if isinstance(default, sa.ColumnDefault):
                value = default.arg(None) if default.is_callable else default.arg
            defaults[c.name] = value.value if isinstance(value, enum.Enum) else value
        _SHAPES[key] = columns, defaults
    return _SHAPES[key]


def start_numbers(s: Session) -> tuple[int, int]:
    """Where customer and vehicle numbering continues (the largest ids so far), so reruns never collide."""
    customers = s.scalar(sa.select(sa.func.coalesce(sa.func.max(Customer.id), 0))) or 0
    vehicles = s.scalar(sa.select(sa.func.coalesce(sa.func.max(Vehicle.id), 0))) or 0
    return int(customers), int(vehicles)


def ensure_dealers(s: Session, account_id: int, customers: int, rng: random.Random) -> list[DealerSpec]:
    """The account's dealers, plus new realistic 4S stores until there are a few per 10,000 customers."""
    existing = list(s.scalars(sa.select(Dealer).where(Dealer.account_id == account_id).order_by(Dealer.id)))
    wanted = max(len(existing), 1, math.ceil(customers / 10_000 * DEALERS_PER_10K))
    codes = {d.code for d in existing}
    names = {d.name for d in existing}
    for _ in range(wanted - len(existing)):
        dealer = _new_dealer(account_id, rng, codes, names)
        s.add(dealer)
        existing.append(dealer)
    s.flush()
    return specs(existing, rng)


def specs(dealers: Iterable[Dealer], rng: random.Random) -> list[DealerSpec]:
    """DealerSpecs for dealer rows, each with a size weight (flagship stores sell more)."""
    return [DealerSpec(d.id, d.code, d.name, d.city or "上海", rng.uniform(0.4, 2.0)) for d in dealers]


def _new_dealer(account_id: int, rng: random.Random, codes: set[str], names: set[str]) -> Dealer:
    city, _, _, districts = rng.choice(P.CITIES)
    prefix = P.CITY_CODES[city]
    code = next(f"{prefix}{n:03d}" for n in range(1, 10_000) if f"{prefix}{n:03d}" not in codes)
    codes.add(code)
    for _ in range(50):
        district = rng.choice(districts)
        name = f"{city}{rng.choice(P.DEALER_GROUPS)}{rng.choice(('大众', '大众', '上汽大众', '一汽-大众'))}" \
               f"{district.removesuffix('新区').removesuffix('区').removesuffix('市')}4S店"
        if name not in names:
            break
    else:
        name = f"{name}{code}"
    names.add(name)
    area = P.LANDLINE_AREAS[city]
    return Dealer(account_id=account_id, code=code, name=name, city=city,
                  address=f"{city}市{district}{rng.choice(P.ROADS)}{rng.randint(1, 3999)}号",
                  phone=f"{area}-{rng.randint(5, 8)}{rng.randrange(10**6, 10**7):07d}")
