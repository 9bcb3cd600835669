"""One-time binding QR codes that staff make for a customer in the showroom, and the staff side of
bindings (unbinding, the consent history).

A code is a temporary WeChat QR (scene `bind:<token>`, 30 minutes). Scanning it (or following
through it) starts the consent question; agreeing redeems the code: the row is locked, checked
(unused, not revoked, not expired) and marked used in the same transaction as the binding, so a
code binds exactly once however many people scan it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scrm import db
from scrm.db import utcnow
from scrm.models import BindingCode, BindMethod, ConsentRecord, Customer, CustomerBinding, StaffUser
from scrm.services import audit, binding
from scrm.services.accounts import settings_for_id
from scrm.services.binding import BindingError, Linked
from scrm.services.errors import DomainError, NotFound
from scrm.services.normalize_base import N_
from scrm.services.scope import Perm, Scope

CODE_SECONDS = 30 * 60
SCENE_PREFIX = "bind:"


class CodeInvalid(BindingError):
    message = N_("This binding code was already used or has expired. Please ask the staff for a new one.")


@dataclass(frozen=True)
class CodeInfo:
    """What a scan of a valid code needs: the code, its customer and dealer."""

    token: str
    customer_id: int
    dealer_id: int
    expires_at: datetime


def scene_for(token: str) -> str:
    """The QR scene of a code."""
    return SCENE_PREFIX + token


def token_of(scene: str) -> str | None:
    """The token of a `bind:<token>` scene (also as `qrscene_bind:<token>`), else None."""
    scene = scene.strip()
    if scene.startswith("qrscene_"):
        scene = scene[len("qrscene_"):]
    if not scene.startswith(SCENE_PREFIX):
        return None
    token = scene[len(SCENE_PREFIX):]
    return token if 16 <= len(token) <= 32 and token.replace("-", "").replace("_", "").isalnum() else None


def _usable(code: BindingCode | None, now: datetime) -> bool:
    return code is not None and code.used_at is None and code.revoked_at is None and code.expires_at > now


def check(account_id: int, token: str) -> CodeInfo:
    """The code behind a scan, if it can still bind; else CodeInvalid."""
    with db.transaction() as s:
        code = s.scalar(sa.select(BindingCode).where(BindingCode.account_id == account_id,
                                                     BindingCode.token == token))
        if code is None or not _usable(code, utcnow()):
            raise CodeInvalid()
        return CodeInfo(token=code.token, customer_id=code.customer_id, dealer_id=code.dealer_id,
                        expires_at=code.expires_at)


def redeem(account_id: int, token: str, follower_id: int, consent_text: str, language: str) -> Linked:
    """Use the code: bind the follower to its customer after consent (exactly once)."""
    dealer_id = 0
    try:
        with db.transaction() as s:
            code = s.scalar(sa.select(BindingCode).where(BindingCode.account_id == account_id,
                                                         BindingCode.token == token))
            now = utcnow()
            if code is None or not _usable(code, now):
                raise CodeInvalid()
            # The claim decides the race on every database: a concurrent redeemer's UPDATE waits for this
            # transaction (PostgreSQL's row lock, SQLite's write lock), then finds the code used and claims nothing.
            claim = (sa.update(BindingCode)
                     .where(BindingCode.id == code.id, BindingCode.used_at.is_(None), BindingCode.revoked_at.is_(None),
                            BindingCode.expires_at > now)
                     .values(used_at=now, follower_id=follower_id)
                     .execution_options(synchronize_session="fetch"))   # `code` in the session shows it used
            if s.execute(claim).rowcount != 1:  # type: ignore[attr-defined]
                raise CodeInvalid()
            customer = s.get(Customer, code.customer_id)
            if customer is None:
                raise CodeInvalid()
            dealer_id = customer.dealer_id
            row = binding.link_in(s, follower_id=follower_id, customer=customer, method=BindMethod.QR,
                                  consent_text=consent_text, language=language)
            s.flush()
            return Linked(binding_id=row.id, customer_id=customer.id, dealer_id=customer.dealer_id, new_lead=False)
    except IntegrityError as exc:
        raise binding.lost_race(follower_id, dealer_id, exc) from exc


def _customer(s: Session, scope: Scope, customer_id: int) -> Customer:
    c = scope.get(s, Customer, customer_id)
    if c.merged_into_id is not None or c.erased_at is not None:
        raise NotFound()
    return c


def create_code(actor: StaffUser, customer_id: int, ip: str = "") -> BindingCode:
    """Make a one-time binding QR for a customer in scope (a temporary WeChat QR, 30 minutes)."""
    from scrm.wechat.client import api_for
    from scrm.wechat.errors import WeChatError

    scope = Scope.of(actor)
    customer = _customer(db.session(), scope, customer_id)
    token = secrets.token_urlsafe(18)[:24]
    try:
        ticket = api_for(settings_for_id(scope.account_id)).create_qrcode(
            scene_for(token), permanent=False, expire_seconds=CODE_SECONDS)
    except WeChatError as exc:
        raise DomainError(N_("WeChat did not create the QR code: %(error)s"), error=exc.describe()) from exc
    now = utcnow()
    seconds = min(CODE_SECONDS, int(ticket.get("expire_seconds") or CODE_SECONDS))
    with db.transaction() as s:
        code = BindingCode(account_id=scope.account_id, dealer_id=customer.dealer_id, customer_id=customer.id,
                           token=token, ticket=str(ticket["ticket"])[:255], url=str(ticket["url"])[:255],
                           created_by=actor.id, created_at=now, expires_at=now + timedelta(seconds=seconds))
        s.add(code)
        s.flush()
        audit.record(s, staff=actor, action="binding.code_create", target_type="customer", target_id=customer.id,
                     detail={"code_id": code.id, "expires_at": code.expires_at.isoformat()}, ip=ip,
                     dealer_id=customer.dealer_id)
    return code


def get_code(scope: Scope, code_id: int) -> BindingCode:
    """One code in scope, else NotFound."""
    return scope.get(db.session(), BindingCode, code_id)


def customer_of(scope: Scope, code: BindingCode) -> Customer:
    """The customer a code binds to (in scope)."""
    return scope.get(db.session(), Customer, code.customer_id)


def revoke_code(actor: StaffUser, code_id: int, ip: str = "") -> BindingCode:
    """Revoke an unused code (a used or expired one stays as it is)."""
    scope = Scope.of(actor)
    with db.transaction() as s:
        code = scope.get(s, BindingCode, code_id)
        if code.used_at is None and code.revoked_at is None:
            code.revoked_at = utcnow()
            audit.record(s, staff=actor, action="binding.code_revoke", target_type="customer",
                         target_id=code.customer_id, detail={"code_id": code.id}, ip=ip, dealer_id=code.dealer_id)
    return code


def open_codes(scope: Scope, customer_id: int) -> list[BindingCode]:
    """The customer's codes that can still bind, newest first."""
    stmt = scope.apply(sa.select(BindingCode), BindingCode).where(
        BindingCode.customer_id == customer_id, BindingCode.used_at.is_(None), BindingCode.revoked_at.is_(None),
        BindingCode.expires_at > utcnow()).order_by(BindingCode.id.desc())
    return list(db.session.scalars(stmt))


def consent_records(scope: Scope, customer_id: int, limit: int = 20) -> list[ConsentRecord]:
    """The customer's consent history, newest first."""
    stmt = scope.apply(sa.select(ConsentRecord), ConsentRecord).where(
        ConsentRecord.customer_id == customer_id).order_by(ConsentRecord.created_at.desc(), ConsentRecord.id.desc())
    return list(db.session.scalars(stmt.limit(limit)))


def may_unbind(scope: Scope) -> bool:
    """Managers and brand admins may unbind a follower from a record."""
    return scope.can(Perm.CUSTOMER_BINDINGS)


def staff_unbind(actor: StaffUser, binding_id: int, ip: str = "") -> CustomerBinding:
    """A manager removes a follower's binding (audited)."""
    scope = Scope.of(actor)
    if not may_unbind(scope):
        from scrm.services.errors import Forbidden

        raise Forbidden()
    with db.transaction() as s:
        b = scope.get(s, CustomerBinding, binding_id)
        binding.remove_in(s, b.id, N_("Unbound from WeChat by staff"), staff=actor)
        audit.record(s, staff=actor, action="binding.unbind", target_type="customer", target_id=b.customer_id,
                     detail={"follower_id": b.follower_id, "method": b.method}, ip=ip, dealer_id=b.dealer_id)
    return b
