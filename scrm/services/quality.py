"""The dealer's data quality report: completeness and validity per field, coverage, duplicate rate.

Every figure comes from a few aggregate queries (SUM(CASE ...) over the dealer's live customers and
their vehicles), so the report costs the same few statements at 1,000 or 1,000,000 customers. A value
is "valid" when it passes the same rules as the importer (scrm.services.normalize): an 11-digit mainland
mobile, a VIN of allowed characters with a correct check digit, a plate in one of the GA 36 formats,
a plausible birthday (16 to 100 years ago), dates not in the future, a mileage of 0 to 2,000,000 km.
Snapshots keep the raw counts, so any two moments can be compared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import (
    Customer,
    CustomerBinding,
    Dealer,
    DuplicatePair,
    PairStatus,
    QualitySnapshot,
    StaffUser,
    Vehicle,
)
from scrm.services import audit
from scrm.services.errors import Invalid
from scrm.services.normalize import PROVINCES
from scrm.services.normalize_base import N_
from scrm.services.scope import Perm, Scope

AUTO_LABEL = N_("Before clean-up (automatic)")
LABEL_MAX = 100
# (key, English label msgid) in display order
CUSTOMER_FIELDS = (("name", N_("Name")), ("mobile", N_("Mobile")), ("gender", N_("Gender")),
                   ("birthday", N_("Birthday")), ("city", N_("City")))
VEHICLE_FIELDS = (("vin", N_("VIN")), ("plate", N_("Plate")), ("model", N_("Model")),
                  ("purchase_date", N_("Purchase date")), ("mileage", N_("Mileage")),
                  ("last_service_date", N_("Last service date")), ("insurance_expiry", N_("Insurance expiry")))
SHARES = (("with_vehicle", N_("Customers with a vehicle")), ("bound", N_("Bound to a WeChat follower")),
          ("consent", N_("Consent to contact recorded")), ("duplicates", N_("In an open duplicate pair")))

_L = "A-HJ-NP-Z"
_NEV = "DABCEFGHJK"
PLATE_RE = (f"^[{PROVINCES}][{_L}]([{_L}0-9]{{4}}[{_L}0-9挂学警港澳领]|[{_NEV}]([0-9]{{5}}|[{_L}][0-9]{{4}})"
            f"|[0-9]{{5}}[{_NEV}])$")
VIN_RE = "^[0-9A-HJ-NPR-Z]{17}$"
MOBILE_RE = "^1[3-9][0-9]{9}$"
_VIN_MAP = dict(zip("ABCDEFGHJKLMNPRSTUVWXYZ", "12345678123457923456789", strict=True))
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def _vin_digits(col: Any) -> Any:
    """The VIN with its letters turned into their ISO 3779 values (nested replace(): portable SQL)."""
    digits: Any = col
    for letter, digit in _VIN_MAP.items():
        digits = sa.func.replace(digits, letter, digit)
    return digits


def _vin_remainder(digits: Any) -> Any:
    """The weighted sum of the transliterated VIN modulo 11 (10 means the check character is X)."""
    total: Any = sa.literal(0)
    for i, w in enumerate(_VIN_WEIGHTS, start=1):
        if w:
            total = total + w * sa.cast(sa.func.substr(digits, i, 1), sa.Integer)
    return total % 11


def _filled(col: Any) -> sa.ColumnElement[bool]:
    if isinstance(col.type, sa.String):
        return sa.and_(col.is_not(None), sa.func.trim(col) != "")
    return col.is_not(None)


def _count(cond: sa.ColumnElement[bool]) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def _local_today() -> date:
    return db.utcnow().astimezone(runtime.get().settings.app.tz).date()


def _customer_rules(today: date) -> dict[str, sa.ColumnElement[bool]]:
    c = Customer
    return {
        "name": sa.and_(_filled(c.name), ~c.name.regexp_match("[0-9]"), sa.func.length(c.name) <= 20),
        "mobile": c.mobile.regexp_match(MOBILE_RE),
        "gender": c.gender.is_not(None),
        "birthday": c.birthday.between(today - timedelta(days=365 * 100), today - timedelta(days=365 * 16)),
        "city": sa.and_(_filled(c.city), ~c.city.regexp_match("[0-9]"), sa.func.length(c.city) <= 20),
    }


def _vehicle_rules(v: Any, today: date) -> dict[str, sa.ColumnElement[bool]]:
    first = date(1990, 1, 1)
    check = sa.case((v.vin_rem == 10, sa.literal("X")), else_=sa.cast(v.vin_rem, sa.String))
    return {
        "vin": sa.and_(v.vin.regexp_match(VIN_RE), sa.func.substr(v.vin, 9, 1) == check),
        "plate": v.plate.regexp_match(PLATE_RE),
        "model": _filled(v.model),
        "purchase_date": v.purchase_date.between(first, today),
        "mileage": v.mileage.between(0, 2_000_000),
        "last_service_date": sa.and_(v.last_service_date.between(first, today),
                                     sa.or_(v.purchase_date.is_(None), v.last_service_date >= v.purchase_date)),
        "insurance_expiry": v.insurance_expiry.between(date(2000, 1, 1), today + timedelta(days=3 * 366)),
    }


def _live(dealer_id: int) -> sa.ColumnElement[bool]:
    return sa.and_(Customer.dealer_id == dealer_id, Customer.merged_into_id.is_(None), Customer.erased_at.is_(None))


def compute(dealer_id: int) -> dict[str, Any]:
    """The raw counts of the report for one dealer: {"customers", "vehicles", "fields", "shares"}."""
    s = db.session()
    today = _local_today()
    cols: list[Any] = [sa.func.count().label("total")]
    fields = dict(CUSTOMER_FIELDS)
    for key, rule in _customer_rules(today).items():
        cols += [_count(_filled(getattr(Customer, key))).label(f"{key}_f"),
                 _count(sa.and_(_filled(getattr(Customer, key)), rule)).label(f"{key}_v")]
    cols.append(_count(Customer.consent_at.is_not(None)).label("consent"))
    row = s.execute(sa.select(*cols).where(_live(dealer_id))).one()._mapping
    total = int(row["total"])
    out: dict[str, Any] = {"customers": total, "fields": {}, "shares": {}}
    for key in fields:
        out["fields"][f"customer.{key}"] = {"filled": int(row[f"{key}_f"]), "valid": int(row[f"{key}_v"]),
                                            "total": total}
    live_ids = sa.select(Customer.id).where(_live(dealer_id))
    # the VIN is transliterated once per row (inner), its check remainder computed once (middle)
    keys = [k for k, _label in VEHICLE_FIELDS]
    inner = sa.select(Vehicle.customer_id, *(getattr(Vehicle, k) for k in keys),
                      _vin_digits(Vehicle.vin).label("vin_digits")).where(
        Vehicle.dealer_id == dealer_id, Vehicle.customer_id.in_(live_ids)).subquery()
    v = sa.select(inner.c.customer_id, *(inner.c[k] for k in keys),
                  _vin_remainder(inner.c.vin_digits).label("vin_rem")).subquery().c
    vcols: list[Any] = [sa.func.count().label("total"), sa.func.count(sa.distinct(v.customer_id)).label("owners")]
    for key, rule in _vehicle_rules(v, today).items():
        vcols += [_count(_filled(v[key])).label(f"{key}_f"), _count(sa.and_(_filled(v[key]), rule)).label(f"{key}_v")]
    vrow = s.execute(sa.select(*vcols)).one()._mapping
    out["vehicles"] = int(vrow["total"])
    for key, _label in VEHICLE_FIELDS:
        out["fields"][f"vehicle.{key}"] = {"filled": int(vrow[f"{key}_f"]), "valid": int(vrow[f"{key}_v"]),
                                           "total": int(vrow["total"])}
    bound = s.scalar(sa.select(sa.func.count(sa.distinct(CustomerBinding.customer_id))).where(
        CustomerBinding.dealer_id == dealer_id, CustomerBinding.customer_id.in_(live_ids)))
    in_pairs = sa.union(
        sa.select(DuplicatePair.first_id.label("cid")).where(DuplicatePair.dealer_id == dealer_id,
                                                             DuplicatePair.status == PairStatus.OPEN),
        sa.select(DuplicatePair.second_id.label("cid")).where(DuplicatePair.dealer_id == dealer_id,
                                                              DuplicatePair.status == PairStatus.OPEN)).subquery()
    dupes = s.scalar(sa.select(sa.func.count()).select_from(in_pairs))
    out["shares"] = {"with_vehicle": int(vrow["owners"]), "bound": int(bound or 0), "consent": int(row["consent"]),
                     "duplicates": int(dupes or 0)}
    out["open_pairs"] = int(s.scalar(sa.select(sa.func.count()).select_from(DuplicatePair).where(
        DuplicatePair.dealer_id == dealer_id, DuplicatePair.status == PairStatus.OPEN)) or 0)
    return out


CACHE_SECONDS = 120


def _cache_key(dealer_id: int) -> str:
    return runtime.get().key("quality", "report", dealer_id)


def current(dealer_id: int) -> dict[str, Any]:
    """The report counts, cached for two minutes (about 4 s of SQL at a million customers).

    Merges, undos, dismissals and detection runs drop the cache (`forget`); other writes (imports)
    show within two minutes.
    """
    rt = runtime.get()
    raw = rt.redis.get(_cache_key(dealer_id))
    if raw:
        cached: dict[str, Any] = json.loads(raw)
        return cached
    figures = compute(dealer_id)
    rt.redis.set(_cache_key(dealer_id), json.dumps(figures), ex=CACHE_SECONDS)
    return figures


def forget(dealer_id: int) -> None:
    """Drop the cached report of a dealer (after a change this module's pages made)."""
    runtime.get().redis.delete(_cache_key(dealer_id))


@dataclass(frozen=True)
class Line:
    """One line of the report: shares in percent (None when there is nothing to measure) and deltas."""

    key: str
    label: str
    complete: float | None
    valid: float | None
    complete_delta: float | None = None
    valid_delta: float | None = None


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _delta(now: float | None, then: float | None) -> float | None:
    return round(now - then, 1) if now is not None and then is not None else None


def lines(figures: dict[str, Any], against: dict[str, Any] | None = None) -> dict[str, list[Line]]:
    """Report lines ('customer', 'vehicle', 'shares') with deltas against an earlier snapshot's figures."""
    out: dict[str, list[Line]] = {"customer": [], "vehicle": [], "shares": []}
    for group, spec in (("customer", CUSTOMER_FIELDS), ("vehicle", VEHICLE_FIELDS)):
        for key, label in spec:
            f = figures["fields"].get(f"{group}.{key}", {"filled": 0, "valid": 0, "total": 0})
            comp, val = _pct(f["filled"], f["total"]), _pct(f["valid"], f["filled"])
            old = (against or {}).get("fields", {}).get(f"{group}.{key}")
            out[group].append(Line(key, label, comp, val,
                                   _delta(comp, _pct(old["filled"], old["total"])) if old else None,
                                   _delta(val, _pct(old["valid"], old["filled"])) if old else None))
    for key, label in SHARES:
        now = _pct(figures["shares"].get(key, 0), figures["customers"])
        then = _pct(against["shares"].get(key, 0), against["customers"]) if against else None
        out["shares"].append(Line(key, label, now, None, _delta(now, then)))
    return out


def take_snapshot(actor: StaffUser | None, dealer_id: int, label: str, ip: str = "") -> QualitySnapshot:
    """Store the current figures of a dealer under `label` (audited when staff take it)."""
    label = " ".join(label.split())
    if len(label) > LABEL_MAX:
        raise Invalid("A label has at most %(max)s characters.", field="label", max=LABEL_MAX)
    if actor is not None:
        scope = Scope.of(actor)
        scope.require(Perm.CUSTOMERS_MERGE)  # the people who clean up take the "before" pictures
        scope.get(db.session(), Dealer, dealer_id)
    figures = compute(dealer_id)
    with db.transaction() as s:
        dealer = s.get(Dealer, dealer_id)
        assert dealer is not None
        snap = QualitySnapshot(account_id=dealer.account_id, dealer_id=dealer_id, label=label, figures=figures,
                               taken_by=actor.id if actor else None, taken_at=db.utcnow())
        s.add(snap)
        s.flush()
        if actor is not None:
            audit.record(s, staff=actor, action="quality.snapshot", target_type="dealer", target_id=dealer_id,
                         detail={"snapshot_id": snap.id, "label": label}, ip=ip, dealer_id=dealer_id)
    return snap


def ensure_daily_snapshot(actor: StaffUser | None, dealer_id: int) -> QualitySnapshot | None:
    """Take the automatic "before clean-up" snapshot unless one was taken today (local time)."""
    tz = runtime.get().settings.app.tz
    since = datetime.combine(_local_today(), time(), tz)
    exists = db.session.scalar(sa.select(QualitySnapshot.id).where(
        QualitySnapshot.dealer_id == dealer_id, QualitySnapshot.taken_at >= since).limit(1))
    if exists is not None:
        return None
    return take_snapshot(None, dealer_id, AUTO_LABEL)


def snapshots(scope: Scope, dealer_id: int, limit: int = 50) -> list[QualitySnapshot]:
    """The dealer's snapshots in scope, newest first."""
    stmt = scope.apply(sa.select(QualitySnapshot), QualitySnapshot).where(QualitySnapshot.dealer_id == dealer_id)
    return list(db.session.scalars(stmt.order_by(QualitySnapshot.taken_at.desc(), QualitySnapshot.id.desc())
                                   .limit(limit)))
