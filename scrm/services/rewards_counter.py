"""Vouchers at the counter: look a code up, use it once (核销), or cancel it with the points refunded.

A dealer's voucher is used only at that dealer (brand admins anywhere); an account-wide reward's voucher
at any dealer of the account. Using is a conditional update on status = issued, so two clerks scanning
the same code at once use it once; the loser is told when and by whom it was used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import (
    Customer,
    CustomerBinding,
    Dealer,
    Member,
    PointsEntry,
    Redemption,
    RedemptionStatus,
    Reward,
    StaffUser,
)
from scrm.security import mask_phone
from scrm.services import audit, ledger
from scrm.services.errors import DomainError, Forbidden, Invalid, NotFound
from scrm.services.normalize_base import N_
from scrm.services.rewards import normalise_code
from scrm.services.scope import Perm, Scope

audit.ACTIONS.update({"voucher.use": N_("Used a voucher at the counter"),
                      "voucher.cancel": N_("Cancelled a voucher and refunded its points")})


class VoucherUnknown(NotFound):
    """No voucher of the account has this code."""

    message = N_("No voucher has the code %(code)s. Please check the code and try again.")


class OtherDealer(DomainError):
    """The voucher is for another dealer's reward."""

    message = N_("This voucher is for %(dealer)s and cannot be used at this dealer.")


class VoucherExpired(DomainError):
    """The voucher is past its expiry."""

    message = N_("This voucher has expired and cannot be used.")


class VoucherCancelled(DomainError):
    """The voucher was cancelled (its points were refunded)."""

    message = N_("This voucher was cancelled and cannot be used.")


@dataclass(frozen=True)
class VoucherView:
    """What the counter sees of a voucher."""

    id: int
    code: str
    reward_name: str
    points: int
    dealer_name: str
    member_id: int
    member_label: str   # the bound customer's name and (masked) mobile; empty when not bound
    status: RedemptionStatus
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None
    used_by_name: str
    here: bool          # may be used by this staff member's dealer

    def expired_at(self, now: datetime) -> bool:
        """True when an issued voucher is past its expiry (the daily job may not have run yet)."""
        return self.status == RedemptionStatus.ISSUED and self.expires_at <= now


def _member_label(s: Session, member_id: int, dealer_id: int | None, phones: bool) -> str:
    m = s.get(Member, member_id)
    if m is None:
        return ""
    q = (sa.select(Customer.name, Customer.mobile).join(CustomerBinding, CustomerBinding.customer_id == Customer.id)
         .where(CustomerBinding.follower_id == m.follower_id))
    if dealer_id is not None:
        q = q.order_by((CustomerBinding.dealer_id == dealer_id).desc())
    row = s.execute(q.order_by(CustomerBinding.id).limit(1)).first()
    if row is None:
        return ""
    name, mobile = row
    shown = (mobile if phones else mask_phone(mobile)) if mobile else ""
    return " ".join(p for p in (name or "", shown) if p)


def _here(scope: Scope, red: Redemption) -> bool:
    return scope.all_dealers or red.dealer_id is None or red.dealer_id == scope.dealer_id


def _view(s: Session, scope: Scope, red: Redemption) -> VoucherView:
    reward = s.get(Reward, red.reward_id)
    dealer = s.get(Dealer, red.dealer_id) if red.dealer_id else None
    used_by = s.get(StaffUser, red.used_by) if red.used_by else None
    return VoucherView(
        id=red.id, code=red.code, reward_name=reward.name if reward else "—", points=red.points,
        dealer_name=dealer.name if dealer else "", status=red.status, issued_at=red.issued_at,
        expires_at=red.expires_at, used_at=red.used_at,
        used_by_name=(used_by.display_name or used_by.username) if used_by else "",
        member_id=red.member_id,
        member_label=_member_label(s, red.member_id, scope.dealer_id, scope.can(Perm.CUSTOMER_PHONES)),
        here=_here(scope, red))


def _find(s: Session, scope: Scope, code: str, *, lock: bool = False) -> Redemption:
    clean = normalise_code(code)
    if not clean:
        raise Invalid(N_("Enter the voucher code."), field="code")
    q = sa.select(Redemption).where(Redemption.account_id == scope.account_id, Redemption.code == clean)
    red = s.scalar(q.with_for_update() if lock else q)
    if red is None:
        raise VoucherUnknown(code=clean)
    return red


def look_up(scope: Scope, code: str) -> VoucherView:
    """The voucher with this code in the staff member's account (any dealer: the page says where it is valid)."""
    scope.require(Perm.VOUCHERS_USE)
    with db.transaction() as s:
        return _view(s, scope, _find(s, scope, code))


def _refuse(red: Redemption, view: VoucherView) -> DomainError:
    if red.status == RedemptionStatus.USED:
        return AlreadyUsed(view)
    if red.status == RedemptionStatus.CANCELLED:
        return VoucherCancelled()
    return VoucherExpired()


def use(staff: StaffUser, scope: Scope, code: str, ip: str = "", now: datetime | None = None) -> VoucherView:
    """Use (核销) an issued voucher once; the second use is told when and by whom it was used."""
    scope.require(Perm.VOUCHERS_USE)
    now = now or db.utcnow()
    with db.transaction() as s:
        red = _find(s, scope, code)
        if not _here(scope, red):
            dealer = s.get(Dealer, red.dealer_id) if red.dealer_id else None
            raise OtherDealer(dealer=dealer.name if dealer else "")
        done = s.execute(sa.update(Redemption).where(
            Redemption.id == red.id, Redemption.status == RedemptionStatus.ISSUED, Redemption.expires_at > now)
            .values(status=RedemptionStatus.USED, used_at=now, used_by=staff.id)
            .execution_options(synchronize_session=False))
        s.refresh(red)
        v = _view(s, scope, red)
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise _refuse(red, v)
        audit.record(s, staff=staff, action="voucher.use", target_type="redemption", target_id=red.id, ip=ip,
                     dealer_id=red.dealer_id, detail={"code": red.code, "reward": v.reward_name})
        return v


class AlreadyUsed(DomainError):
    """The voucher was already used: `view` says when and by whom."""

    message = N_("This voucher was already used on %(when)s by %(who)s.")

    def __init__(self, view: VoucherView) -> None:
        when = view.used_at.astimezone(ledger.local_tz()).strftime("%Y-%m-%d %H:%M") if view.used_at else "—"
        super().__init__(None, when=when, who=view.used_by_name or "—")
        self.view = view


def cancel(staff: StaffUser, scope: Scope, redemption_id: int, reason: str, ip: str = "",
           now: datetime | None = None) -> VoucherView:
    """Cancel an issued voucher with a reason: its stock goes back and its points are refunded (ledger.adjust)."""
    scope.require(Perm.REWARDS_MANAGE)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(N_("Please give the reason for cancelling."), field="reason")
    now = now or db.utcnow()
    with db.transaction() as s:
        red = scope.get(s, Redemption, redemption_id, shared=True)
        if not scope.dealer_ok(red.dealer_id):
            raise Forbidden()
        done = s.execute(sa.update(Redemption).where(Redemption.id == red.id,
                                                     Redemption.status == RedemptionStatus.ISSUED)
                         .values(status=RedemptionStatus.CANCELLED).execution_options(synchronize_session=False))
        s.refresh(red)
        reward = s.get(Reward, red.reward_id)
        name = reward.name if reward else ""
        if done.rowcount == 1:  # type: ignore[attr-defined]
            s.execute(sa.update(Reward).where(Reward.id == red.reward_id)
                      .values(stock=Reward.stock + 1, updated_at=now).execution_options(synchronize_session=False))
            audit.record(s, staff=staff, action="voucher.cancel", target_type="redemption", target_id=red.id,
                         ip=ip, dealer_id=red.dealer_id, detail={"code": red.code, "reward": name,
                                                                 "points": red.points, "reason": reason[:200]})
        elif red.status != RedemptionStatus.CANCELLED:
            raise _refuse(red, _view(s, scope, red))
        refunded = s.scalar(sa.select(PointsEntry.id).where(PointsEntry.idempotency_key == _refund_key(red.id)))
        member_id, points = red.member_id, red.points
    if refunded is None:  # also repairs a cancellation whose refund did not complete
        ledger.adjust(member_id, points, staff=staff, note=f"退还: {name}（{reason}）"[:200],
                      key=_refund_key(redemption_id), ip=ip, now=now)
    with db.transaction() as s:
        return _view(s, scope, s.get_one(Redemption, redemption_id))


def _refund_key(redemption_id: int) -> str:
    return f"refund:{redemption_id}"
