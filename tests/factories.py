"""Plain factory functions for test rows; each commits and returns the row."""

from __future__ import annotations

import itertools
from typing import Any

from scrm import db
from scrm.db import utcnow
from scrm.models import Dealer, Follower, KeywordReply, Role, StaffUser
from scrm.security import hash_password
from scrm.services.accounts import account_id

_seq = itertools.count(1)
PASSWORD = "correct-horse-42"
_HASH: str | None = None


def make_dealer(account: str = "demo", **kw: Any) -> Dealer:
    """A dealer under the account with slug `account`."""
    n = next(_seq)
    values = dict(code=f"D{n:03d}", name=f"测试4S店{n}", city="上海", address=f"测试路{n}号", phone="021-5555000")
    values.update(kw)
    with db.transaction() as s:
        dealer = Dealer(account_id=account_id(account), **values)
        s.add(dealer)
    return dealer


def make_staff(role: Role = Role.DEALER_STAFF, dealer: Dealer | None = None, account: str = "demo",
               password: str = PASSWORD, **kw: Any) -> StaffUser:
    """A staff user; the password is `PASSWORD` unless given."""
    global _HASH
    if password == PASSWORD:
        _HASH = _HASH or hash_password(PASSWORD)
        pw_hash = _HASH
    else:
        pw_hash = hash_password(password)
    n = next(_seq)
    values = dict(username=f"staff{n}", display_name=f"员工{n}")
    values.update(kw)
    with db.transaction() as s:
        user = StaffUser(account_id=account_id(account), dealer_id=dealer.id if dealer else None,
                         password_hash=pw_hash, role=role, **values)
        s.add(user)
    return user


def make_follower(account: str = "demo", subscribed: bool = True, **kw: Any) -> Follower:
    """A follower that follows the account, interacted just now unless told otherwise."""
    n = next(_seq)
    now = utcnow()
    values: dict[str, Any] = dict(openid=f"o_test_{n:06d}_openid_xxxxxx", subscribed=subscribed,
                                  subscribed_at=now if subscribed else None, first_subscribed_at=now,
                                  last_interaction_at=now)
    values.update(kw)
    with db.transaction() as s:
        f = Follower(account_id=account_id(account), **values)
        s.add(f)
    return f


def make_keyword(keyword: str, text: str, account: str = "demo", **kw: Any) -> KeywordReply:
    """A keyword auto-reply."""
    with db.transaction() as s:
        k = KeywordReply(account_id=account_id(account), keyword=keyword, text=text, **kw)
        s.add(k)
    return k
