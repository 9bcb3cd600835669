"""Export everything one dealer holds about one customer (PIPL art. 45), as a ZIP.

Why a ZIP of JSON plus CSVs: `customer.json` is the complete, machine-readable copy (stable English
keys, nested detail kept as it is, so the customer can take it elsewhere), and one CSV per table
with headers in the staff member's language (UTF-8 with a BOM, so Excel shows Chinese correctly) is
what a person actually reads. A README says what is in it and whether the message log was capped.
Built in memory: one customer's rows are small, and the message log is capped at MESSAGE_CAP rows.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import (
    Booking,
    ConsentRecord,
    Customer,
    CustomerBinding,
    Dealer,
    Follower,
    MergeRecord,
    MessageLog,
    PrivacyKind,
    PrivacyRequest,
    RepairOrder,
    ServiceType,
    StaffNote,
    StaffUser,
    TimelineEntry,
    Vehicle,
)
from scrm.services import audit
from scrm.services.normalize_base import N_
from scrm.services.privacy import AlreadyErased, check_reason, load_customer
from scrm.services.scope import Scope
from scrm.services.validation import Problems
from scrm.wechat.render import translator

MESSAGE_CAP = 5000
FORMAT = "scrm-pipl-export/1"

# table -> (file name, [(key, header msgid)]); the keys are those of customer.json
TABLES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "customer": ("customer.csv", [
        ("id", N_("Customer no.")), ("dealer", N_("Dealer")), ("external_id", N_("ID in the dealer system")),
        ("name", N_("Name")), ("mobile", N_("Mobile")), ("landline", N_("Landline")), ("gender", N_("Gender")),
        ("birthday", N_("Birthday")), ("city", N_("City")), ("source", N_("Source")), ("stage", N_("Stage")),
        ("tags", N_("Tags")), ("consent_at", N_("Consent to contact given at")),
        ("consent_text", N_("Consent wording shown")), ("created_at", N_("On the books since")),
        ("updated_at", N_("Last change"))]),
    "vehicles": ("vehicles.csv", [
        ("id", N_("Vehicle no.")), ("vin", N_("VIN")), ("plate", N_("Licence plate")), ("brand", N_("Brand")),
        ("model", N_("Model")), ("model_year", N_("Model year")), ("purchase_date", N_("Purchase date")),
        ("mileage", N_("Mileage (km)")), ("mileage_date", N_("Mileage read on")),
        ("last_service_date", N_("Last service date")), ("last_service_mileage", N_("Last service mileage (km)")),
        ("insurance_expiry", N_("Insurance expiry")), ("warranty_expiry", N_("Warranty expiry"))]),
    "repair_orders": ("repair_orders.csv", [
        ("external_id", N_("Order no.")), ("date", N_("Date")), ("type", N_("Type")), ("vehicle_id", N_("Vehicle no.")),
        ("amount", N_("Amount (yuan)")), ("mileage", N_("Mileage (km)")), ("advisor", N_("Advisor"))]),
    "timeline": ("timeline.csv", [
        ("occurred_at", N_("Time")), ("kind", N_("Kind")), ("title", N_("What happened")), ("detail", N_("Details"))]),
    "staff_notes": ("staff_notes.csv", [
        ("created_at", N_("Time")), ("staff", N_("Written by")), ("text", N_("Note"))]),
    "wechat_bindings": ("wechat_bindings.csv", [
        ("openid", N_("openid")), ("bound_at", N_("Bound at")), ("method", N_("How it was bound")),
        ("subscribed", N_("Following the account"))]),
    "consent_records": ("consent_records.csv", [
        ("created_at", N_("Time")), ("granted", N_("Granted")), ("channel", N_("Channel")),
        ("language", N_("Language")), ("text", N_("Wording shown"))]),
    "messages": ("wechat_messages.csv", [
        ("created_at", N_("Time")), ("openid", N_("openid")), ("direction", N_("Direction")),
        ("msg_type", N_("Message type")), ("event", N_("WeChat event")), ("content", N_("Content"))]),
    "bookings": ("bookings.csv", [
        ("id", N_("Booking no.")), ("start_at", N_("Booked time")), ("service", N_("Service")),
        ("status", N_("Status")), ("source", N_("Booked through")), ("contact_name", N_("Contact name")),
        ("contact_mobile", N_("Contact mobile")), ("note", N_("Note")), ("satisfaction", N_("Satisfaction (1-5)")),
        ("created_at", N_("Booked at"))]),
    "merges": ("merges.csv", [
        ("id", N_("Merge no.")), ("survivor_id", N_("Kept record")), ("merged_id", N_("Merged record")),
        ("created_at", N_("Merged at")), ("undone_at", N_("Undone at")), ("before", N_("Values before the merge"))]),
}
README = N_("Personal data held by %(dealer)s about customer #%(id)s, exported on %(time)s.\n\n"
            "customer.json holds everything in one machine-readable file; each CSV file holds one kind of "
            "record with readable headers. Times are in the %(tz)s time zone.\n\nRows per file:\n%(counts)s\n")
CAPPED = N_("Only the newest %(cap)s of %(total)s WeChat messages are included; ask us for the rest.")


@dataclass(frozen=True)
class Export:
    """The file to send and what it holds."""

    filename: str
    data: bytes
    counts: dict[str, int]
    messages_capped: bool


def _value(value: Any) -> Any:
    """A JSON-safe value: local ISO times, ISO dates, plain numbers, enum values."""
    if isinstance(value, datetime):
        return value.astimezone(runtime.get().settings.app.tz).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def _row(obj: Any, keys: Sequence[str], **extra: Any) -> dict[str, Any]:
    return {k: _value(extra[k] if k in extra else getattr(obj, k, None)) for k in keys}


def _keys(table: str) -> list[str]:
    return [k for k, _ in TABLES[table][1]]


def collect(scope: Scope, customer: Customer) -> dict[str, Any]:
    """Every record of the customer at its dealer, keyed as in customer.json (messages capped)."""
    s = db.session()
    cid = customer.id
    dealer = s.get(Dealer, customer.dealer_id)
    data: dict[str, Any] = {"customer": [_row(customer, _keys("customer"), dealer=dealer.name if dealer else "")]}
    data["vehicles"] = [_row(v, _keys("vehicles")) for v in s.scalars(
        scope.apply(sa.select(Vehicle), Vehicle).where(Vehicle.customer_id == cid).order_by(Vehicle.id))]
    data["repair_orders"] = [_row(o, _keys("repair_orders")) for o in s.scalars(
        scope.apply(sa.select(RepairOrder), RepairOrder).where(RepairOrder.customer_id == cid)
        .order_by(RepairOrder.date, RepairOrder.id))]
    data["timeline"] = [_row(e, _keys("timeline")) for e in s.scalars(
        scope.apply(sa.select(TimelineEntry), TimelineEntry).where(TimelineEntry.customer_id == cid)
        .order_by(TimelineEntry.occurred_at, TimelineEntry.id))]
    notes = s.execute(scope.apply(sa.select(StaffNote, StaffUser), StaffNote)
                      .outerjoin(StaffUser, StaffUser.id == StaffNote.staff_id)
                      .where(StaffNote.customer_id == cid).order_by(StaffNote.created_at, StaffNote.id))
    data["staff_notes"] = [_row(n, _keys("staff_notes"), staff=(u.display_name or u.username) if u else "")
                           for n, u in notes]
    bindings = list(s.execute(scope.apply(sa.select(CustomerBinding, Follower), CustomerBinding)
                              .join(Follower, Follower.id == CustomerBinding.follower_id)
                              .where(CustomerBinding.customer_id == cid).order_by(CustomerBinding.bound_at)))
    data["wechat_bindings"] = [_row(b, _keys("wechat_bindings"), openid=f.openid, subscribed=f.subscribed)
                               for b, f in bindings]
    data["consent_records"] = [_row(r, _keys("consent_records")) for r in s.scalars(
        scope.apply(sa.select(ConsentRecord), ConsentRecord).where(ConsentRecord.customer_id == cid)
        .order_by(ConsentRecord.created_at, ConsentRecord.id))]
    openids = {f.id: f.openid for _, f in bindings}
    messages = sa.select(MessageLog).where(MessageLog.account_id == customer.account_id,
                                           MessageLog.follower_id.in_(list(openids)))
    total = s.scalar(sa.select(sa.func.count()).select_from(messages.subquery())) or 0
    newest = list(s.scalars(messages.order_by(MessageLog.created_at.desc(), MessageLog.id.desc()).limit(MESSAGE_CAP)))
    data["messages"] = [_row(m, _keys("messages"), openid=openids.get(m.follower_id or 0, ""))
                        for m in reversed(newest)]
    data["messages_total"] = int(total)
    bookings = s.execute(scope.apply(sa.select(Booking, ServiceType), Booking)
                         .join(ServiceType, ServiceType.id == Booking.service_type_id)
                         .where(Booking.customer_id == cid).order_by(Booking.start_at, Booking.id))
    data["bookings"] = [_row(b, _keys("bookings"), service=t.name) for b, t in bookings]
    data["merges"] = [_row(m, _keys("merges")) for m in s.scalars(
        scope.apply(sa.select(MergeRecord), MergeRecord).where(
            sa.or_(MergeRecord.survivor_id == cid, MergeRecord.merged_id == cid)).order_by(MergeRecord.id))]
    return data


def _csv(rows: list[dict[str, Any]], columns: list[tuple[str, str]], _: Callable[..., str]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([_(label) for _key, label in columns])
    for row in rows:
        writer.writerow([_cell(row.get(key)) for key, _label in columns])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text  # no formulas when opened in Excel


def build_zip(data: dict[str, Any], meta: dict[str, Any], language: str) -> bytes:
    """The ZIP: customer.json, one CSV per table, README.txt in `language`."""
    _ = translator(language)
    capped = data["messages_total"] > len(data["messages"])
    counts = {table: len(data[table]) for table in TABLES}
    labels = {table: {key: _(label) for key, label in columns} for table, (_f, columns) in TABLES.items()}
    document = {"format": FORMAT, **meta, "field_labels": labels, "messages_total": data["messages_total"],
                "messages_capped": capped, **{table: data[table] for table in TABLES}}
    lines = "\n".join(f"  {name}: {counts[table]}" for table, (name, _c) in TABLES.items())
    readme = _(README, dealer=meta["dealer"], id=meta["customer_id"], time=meta["exported_at"],
               tz=str(runtime.get().settings.app.tz), counts=lines)
    if capped:
        readme += "\n" + _(CAPPED, cap=MESSAGE_CAP, total=data["messages_total"]) + "\n"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("README.txt", readme.encode("utf-8"))
        zf.writestr("customer.json", json.dumps(document, ensure_ascii=False, indent=2, default=str).encode("utf-8"))
        for table, (name, columns) in TABLES.items():
            zf.writestr(name, _csv(data[table], columns, _))
    return out.getvalue()


def export_customer(actor: StaffUser, customer_id: int, reason: str, *, language: str = "zh",
                    ip: str = "") -> Export:
    """Build a customer's data export and record it (PrivacyRequest + audit); managers and brand admins only."""
    scope = Scope.of(actor)
    customer = load_customer(scope, customer_id)
    if customer.erased_at is not None:
        raise AlreadyErased()
    p = Problems()
    reason = check_reason(p, reason)
    p.raise_if_any()
    data = collect(scope, customer)
    dealer = db.session.get(Dealer, customer.dealer_id)
    now = db.utcnow()
    meta = {"dealer": dealer.name if dealer else "", "customer_id": customer.id, "exported_at": _value(now),
            "exported_by": actor.display_name or actor.username, "reason": reason}
    blob = build_zip(data, meta, language)
    counts = {table: len(data[table]) for table in TABLES}
    capped = data["messages_total"] > len(data["messages"])
    with db.transaction() as s:
        req = PrivacyRequest(account_id=customer.account_id, dealer_id=customer.dealer_id, customer_id=customer.id,
                             kind=PrivacyKind.EXPORT, staff_id=actor.id, reason=reason, created_at=now,
                             detail={"counts": counts, "messages_capped": capped, "bytes": len(blob)})
        s.add(req)
        s.flush()
        audit.record(s, staff=actor, action="privacy.export", target_type="customer", target_id=customer.id,
                     detail={"request": req.id, "reason": reason, "counts": counts}, ip=ip,
                     dealer_id=customer.dealer_id)
    stamp = now.astimezone(runtime.get().settings.app.tz).strftime("%Y%m%d-%H%M")
    return Export(filename=f"customer-{customer.id}-{stamp}.zip", data=blob, counts=counts, messages_capped=capped)
