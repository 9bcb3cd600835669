"""Staff link their own WeChat (a follower of the account) so that test sends reach their phone.

The admin page makes a 6-digit code valid CODE_SECONDS, kept in Redis; the staff member sends
"绑定员工 123456" in chat and the bot redeems it (once). A follower gets WRONG_TRIES wrong codes per
window; a follower is linked to at most one staff member of the account.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import Follower, StaffUser
from scrm.security import mask_openid
from scrm.services import audit
from scrm.services.errors import DomainError, NotFound
from scrm.services.normalize_base import N_

CODE_SECONDS = 600
WRONG_TRIES = 3
WRONG_WINDOW_SECONDS = 600

audit.ACTIONS.update({"staff.link_wechat": N_("Linked own WeChat for test sends"),
                      "staff.unlink_wechat": N_("Unlinked own WeChat")})


class WrongCode(DomainError):
    message = N_("That code is wrong or has expired.")


class TooManyTries(DomainError):
    message = N_("Too many wrong codes. Please try again in 10 minutes.")


@dataclass(frozen=True)
class LinkState:
    """What the linking page shows: the linked follower (masked) and a pending code with its seconds left."""

    linked: bool
    openid: str
    subscribed: bool
    code: str
    seconds_left: int


def _code_key(account_id: int, code: str) -> str:
    return runtime.get().key("stafflink", "code", account_id, code)


def _staff_key(staff_id: int) -> str:
    return runtime.get().key("stafflink", "staff", staff_id)


def _fails_key(follower_id: int) -> str:
    return runtime.get().key("stafflink", "fails", follower_id)


def link_state(staff_id: int) -> LinkState:
    """The staff member's link and pending code."""
    with db.transaction() as s:
        staff = s.get(StaffUser, staff_id)
        if staff is None:
            raise NotFound()
        follower = s.get(Follower, staff.follower_id) if staff.follower_id else None
        r = runtime.get().redis
        code = str(r.get(_staff_key(staff.id)) or "")
        left = int(r.ttl(_code_key(staff.account_id, code))) if code else -2
        if left <= 0:
            code, left = "", 0
        return LinkState(linked=follower is not None, openid=mask_openid(follower.openid) if follower else "",
                         subscribed=bool(follower and follower.subscribed), code=str(code), seconds_left=left)


def new_code(staff_id: int) -> str:
    """A fresh 6-digit code for the staff member (the previous one stops working)."""
    with db.transaction() as s:
        staff = s.get(StaffUser, staff_id)
        if staff is None:
            raise NotFound()
        account_id = staff.account_id
    r = runtime.get().redis
    old = r.get(_staff_key(staff_id))
    if old:
        r.delete(_code_key(account_id, str(old)))
    for _ in range(20):
        code = f"{secrets.randbelow(10 ** 6):06d}"
        if r.set(_code_key(account_id, code), staff_id, ex=CODE_SECONDS, nx=True):
            r.set(_staff_key(staff_id), code, ex=CODE_SECONDS)
            return code
    raise DomainError(N_("No code is free just now. Please try again."))


def unlink(staff_id: int, ip: str = "") -> None:
    """Forget the staff member's WeChat."""
    with db.transaction() as s:
        staff = s.get(StaffUser, staff_id)
        if staff is None:
            raise NotFound()
        if staff.follower_id is not None:
            audit.record(s, staff=staff, action="staff.unlink_wechat", target_type="follower",
                         target_id=staff.follower_id, ip=ip)
            staff.follower_id = None


def _wrong(follower_id: int) -> DomainError:
    r = runtime.get().redis
    key = _fails_key(follower_id)
    r.set(key, 0, ex=WRONG_WINDOW_SECONDS, nx=True)
    n = int(r.incr(key))
    if n >= WRONG_TRIES:
        return TooManyTries()
    return WrongCode(tries_left=WRONG_TRIES - n)


def redeem(*, account_id: int, follower_id: int, code: str) -> str:
    """Link the follower to the code's staff member; return the staff member's display name."""
    r = runtime.get().redis
    if int(r.get(_fails_key(follower_id)) or 0) >= WRONG_TRIES:
        raise TooManyTries()
    staff_id = r.getdel(_code_key(account_id, code.strip()))   # single use: whoever sends it first
    if not staff_id:
        raise _wrong(follower_id)
    with db.transaction() as s:
        staff = s.get(StaffUser, int(staff_id))
        follower = s.get(Follower, follower_id)
        if staff is None or not staff.active or follower is None or follower.account_id != account_id \
                or staff.account_id != account_id:
            raise _wrong(follower_id)
        s.execute(sa.update(StaffUser).where(StaffUser.account_id == account_id, StaffUser.follower_id == follower_id,
                                             StaffUser.id != staff.id).values(follower_id=None))
        staff.follower_id = follower_id
        audit.record(s, staff=staff, action="staff.link_wechat", target_type="follower", target_id=follower_id,
                     detail={"openid": mask_openid(follower.openid)})
        name = staff.display_name or staff.username
    r.delete(_staff_key(int(staff_id)))
    return name
