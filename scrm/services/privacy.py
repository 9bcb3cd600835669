"""A customer's rights under PIPL (个人信息保护法 arts. 45 and 47): who may act, the request log, and the
keyed fingerprints that let imports and the API recognise a person whose data was erased.

The export lives in `privacy_export`, the erasure in `privacy_erase`; both record a PrivacyRequest
and an audit entry. An erasure keeps no personal data, only HMACs (keyed with the app's secret) of
the normalised mobile and the dealer system's id, so a re-import of the same person can be refused
without anyone being able to read the number back.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import Customer, PrivacyKind, PrivacyRequest, StaffUser
from scrm.services import audit, normalize
from scrm.services.errors import DomainError, Forbidden
from scrm.services.normalize_base import N_
from scrm.services.paging import Page, paginate
from scrm.services.scope import Perm, Scope
from scrm.services.validation import Problems

REASON_MAX = 500
KIND_LABELS = {PrivacyKind.EXPORT.value: N_("Data export"), PrivacyKind.ERASE.value: N_("Erasure")}
# the keys of PrivacyRequest.detail["counts"] (export and erasure), as the request log shows them
COUNT_LABELS = {
    "customer": N_("Customer records"), "customers": N_("Customer records"), "vehicles": N_("Vehicles"),
    "repair_orders": N_("Repair orders"), "timeline": N_("Timeline entries"),
    "timeline_entries": N_("Timeline entries"), "staff_notes": N_("Staff notes"),
    "wechat_bindings": N_("WeChat bindings"), "bindings": N_("WeChat bindings"),
    "consent_records": N_("Consent records"), "messages": N_("WeChat messages"), "merges": N_("Merges"),
    "duplicate_pairs_closed": N_("Duplicate pairs closed"), "merge_records_scrubbed": N_("Merge snapshots cleared"),
    "binding_codes_revoked": N_("Binding codes revoked"), "deliveries_cancelled": N_("Pending sends cancelled"),
    "messages_blanked": N_("WeChat messages blanked"), "bookings": N_("Bookings"),
    "bookings_cancelled": N_("Upcoming bookings cancelled"),
    "bookings_blanked": N_("Bookings' contact details cleared"),
}

audit.ACTIONS.update({
    "privacy.export": N_("Exported a customer's personal data"),
    "privacy.erase": N_("Erased a customer's personal data"),
})


class PrivacyForbidden(Forbidden):
    message = N_("Only dealer managers and brand admins may export or erase a customer's data.")


class AlreadyErased(DomainError):
    message = N_("This customer's data has already been erased.")


def may_act(scope: Scope) -> bool:
    """True when the role may export and erase customers' data (the roles that see whole mobiles)."""
    return scope.can(Perm.CUSTOMER_PHONES)


def require(scope: Scope) -> None:
    """Raise PrivacyForbidden unless the role may export and erase."""
    if not may_act(scope):
        raise PrivacyForbidden()


def load_customer(scope: Scope, customer_id: int) -> Customer:
    """A customer in scope (NotFound otherwise), then the role check (PrivacyForbidden)."""
    customer = scope.get(db.session(), Customer, customer_id)
    require(scope)
    return customer


def check_reason(p: Problems, reason: str) -> str:
    """The reason, trimmed; a problem when it is empty or too long."""
    reason = reason.replace("\r\n", "\n").strip()
    if not reason:
        p.add("reason", "Say why: for example, the customer's request and how it reached you.")
    elif len(reason) > REASON_MAX:
        p.add("reason", "A reason has at most %(max)s characters; this one has %(length)s.", max=REASON_MAX,
              length=len(reason))
    return reason


# --- fingerprints of erased identities -----------------------------------------------------------

def _key() -> bytes:
    return runtime.get().settings.app.secret_key.encode("utf-8")


def normal_mobile(raw: str | None) -> str | None:
    """A phone number in the one stored form (11 digits, or 0AC-NNNNNNNN), None when not a number."""
    if not raw:
        return None
    if len(raw) == 11 and raw.isascii() and raw.isdigit() and raw[0] == "1":
        return raw  # already the stored form (an import row, a customer record): skip the parser
    try:
        number = normalize.phone(raw)
    except normalize.FieldError:
        return None
    return number.value if number else None


def normal_external_id(raw: str | None) -> str | None:
    """The dealer system's id as the import stores it: NFKC-folded, spaces collapsed."""
    if raw is None:
        return None
    text = " ".join(unicodedata.normalize("NFKC", str(raw)).split())
    return text or None


def fingerprint(dealer_id: int, kind: str, value: str) -> str:
    """HMAC-SHA256 (key: the app's secret) of one normalised identifier of one dealer's customer."""
    message = f"{kind}\x1f{dealer_id}\x1f{value}".encode()
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()


def fingerprints(customer: Customer) -> dict[str, list[str]]:
    """The fingerprints an erasure keeps for one customer: {"mobile": [...], "external_id": [...]}."""
    out: dict[str, list[str]] = {"mobile": [], "external_id": []}
    for number in (customer.mobile, customer.landline):
        value = normal_mobile(number)
        if value:
            out["mobile"].append(fingerprint(customer.dealer_id, "mobile", value))
    ext = normal_external_id(customer.external_id)
    if ext:
        out["external_id"].append(fingerprint(customer.dealer_id, "external_id", ext))
    return out


@dataclass(frozen=True)
class ErasedIdentities:
    """The fingerprints of every person erased at one dealer, for checking many rows (an import)."""

    dealer_id: int
    mobiles: frozenset[str]
    external_ids: frozenset[str]

    def matches(self, mobile: str | None, external_id: str | None) -> bool:
        """True when the mobile or the dealer system's id belongs to an erased person."""
        if not self.mobiles and not self.external_ids:
            return False  # the usual case: nobody erased at this dealer
        number = normal_mobile(mobile)
        if number and fingerprint(self.dealer_id, "mobile", number) in self.mobiles:
            return True
        ext = normal_external_id(external_id)
        return bool(ext) and fingerprint(self.dealer_id, "external_id", ext or "") in self.external_ids


def erased_identities(dealer_id: int) -> ErasedIdentities:
    """Load the erased fingerprints of a dealer once (erasures are rare: a handful of rows)."""
    mobiles: set[str] = set()
    external_ids: set[str] = set()
    details = db.session.scalars(sa.select(PrivacyRequest.detail).where(
        PrivacyRequest.dealer_id == dealer_id, PrivacyRequest.kind == PrivacyKind.ERASE))
    for detail in details:
        identity: dict[str, Any] = (detail or {}).get("identity", {})
        mobiles.update(identity.get("mobile", []))
        external_ids.update(identity.get("external_id", []))
    return ErasedIdentities(dealer_id, frozenset(mobiles), frozenset(external_ids))


def erased_identity(dealer_id: int, mobile: str | None, external_id: str | None) -> bool:
    """True when `mobile` or `external_id` belongs to a customer of the dealer whose data was erased."""
    if not normal_mobile(mobile) and not normal_external_id(external_id):
        return False
    return erased_identities(dealer_id).matches(mobile, external_id)


# --- the request log -----------------------------------------------------------------------------

def list_requests(scope: Scope, page: int = 1, per_page: int = 50) -> Page[PrivacyRequest]:
    """Privacy requests in scope, newest first (managers and brand admins)."""
    require(scope)
    stmt = scope.apply(sa.select(PrivacyRequest), PrivacyRequest).order_by(
        PrivacyRequest.created_at.desc(), PrivacyRequest.id.desc())
    return paginate(db.session(), stmt, page, per_page)


def erasure_of(customer: Customer) -> PrivacyRequest | None:
    """The erasure request that made `customer` a tombstone (for the 360 page), if any."""
    if customer.erased_at is None:
        return None
    customer_ids = [customer.id]
    current: Customer | None = customer
    while current is not None and current.merged_into_id and len(customer_ids) < 10:  # merged: erased with its survivor
        customer_ids.append(current.merged_into_id)
        current = db.session.get(Customer, current.merged_into_id)
    rows = db.session.scalars(sa.select(PrivacyRequest).where(
        PrivacyRequest.dealer_id == customer.dealer_id, PrivacyRequest.kind == PrivacyKind.ERASE,
        PrivacyRequest.customer_id.in_(customer_ids)).order_by(PrivacyRequest.created_at.desc()))
    return next(iter(rows), None)


def staff_label(staff_id: int | None) -> str:
    """A staff member as shown in the privacy pages ('' when unknown)."""
    if staff_id is None:
        return ""
    staff = db.session.get(StaffUser, staff_id)
    if staff is None:
        return ""
    return f"{staff.display_name} ({staff.username})" if staff.display_name else staff.username
