"""API keys for dealers' own systems: create (the secret is shown once), revoke, authenticate.

A key reads `scrm_<prefix>_<secret>`. Only the sha256 of the whole key is stored; the prefix finds the
row, and the hash is compared in constant time, so neither a lookup nor a comparison leaks the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from scrm import db
from scrm.models import ApiKey, Dealer, StaffUser
from scrm.services import audit
from scrm.services.errors import Forbidden, Invalid, NotFound
from scrm.services.scope import Scope

PREFIX_LEN = 8
NAME_MAX = 64
_ALPHABET = string.ascii_lowercase + string.digits
_TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per key

audit.ACTIONS.update({
    "api_key.create": "Created an API key",
    "api_key.revoke": "Revoked an API key",
    "api.customers_batch": "Dealer system upserted customers",
})


@dataclass(frozen=True)
class ApiCaller:
    """Who is calling the API: the key and the one dealer it may touch."""

    key_id: int
    account_id: int
    dealer_id: int
    prefix: str


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(staff: StaffUser, scope: Scope, dealer_id: int, name: str, ip: str = "") -> tuple[ApiKey, str]:
    """Create a key for `dealer_id`; returns the row and the whole key, which is never shown again."""
    name = " ".join(name.split())
    if not name:
        raise Invalid("Give the key a name, such as the system that will use it.", field="name")
    if len(name) > NAME_MAX:
        raise Invalid("The name is too long: at most %(max)d characters.", field="name", max=NAME_MAX)
    if not scope.dealer_ok(dealer_id):
        raise Forbidden()
    with db.transaction() as s:
        dealer = s.get(Dealer, dealer_id)
        if dealer is None or dealer.account_id != scope.account_id:
            raise NotFound()
        prefix = _unused_prefix(s)
        key = f"scrm_{prefix}_{secrets.token_urlsafe(32)}"
        row = ApiKey(account_id=scope.account_id, dealer_id=dealer_id, name=name, prefix=prefix,
                     key_hash=hash_key(key), created_by=staff.id, created_at=db.utcnow())
        s.add(row)
        s.flush()
        audit.record(s, staff=staff, action="api_key.create", target_type="api_key", target_id=row.id,
                     detail={"prefix": prefix, "name": name}, ip=ip, dealer_id=dealer_id)
    return row, key


def _unused_prefix(s: sa.orm.Session) -> str:
    for _ in range(10):
        prefix = "".join(secrets.choice(_ALPHABET) for _ in range(PREFIX_LEN))
        if s.scalar(sa.select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
            return prefix
    raise RuntimeError("could not find an unused API key prefix")  # 36^8 prefixes: practically unreachable


def revoke_key(staff: StaffUser, scope: Scope, key_id: int, ip: str = "") -> ApiKey:
    """Revoke a key in scope (idempotent); it is refused from the next request on."""
    with db.transaction() as s:
        row = scope.get(s, ApiKey, key_id)
        if row.revoked_at is None:
            row.revoked_at = db.utcnow()
            audit.record(s, staff=staff, action="api_key.revoke", target_type="api_key", target_id=row.id,
                         detail={"prefix": row.prefix, "name": row.name}, ip=ip, dealer_id=row.dealer_id)
    return row


def list_keys(scope: Scope) -> list[ApiKey]:
    """The keys in scope, newest first (revoked ones too, for the record)."""
    stmt = scope.apply(sa.select(ApiKey), ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    return list(db.session.scalars(stmt))


def authenticate(key: str) -> ApiCaller | None:
    """The caller a presented key belongs to, or None (unknown, malformed, revoked or inactive dealer)."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "scrm" or len(parts[1]) != PREFIX_LEN or not parts[2] or len(key) > 200:
        return None
    presented = hash_key(key)
    now = db.utcnow()
    with db.transaction() as s:
        row = s.scalar(sa.select(ApiKey).where(ApiKey.prefix == parts[1]))
        if row is None or not hmac.compare_digest(row.key_hash, presented) or row.revoked_at is not None:
            return None
        dealer = s.get(Dealer, row.dealer_id)
        if dealer is None or not dealer.active:
            return None
        if row.last_used_at is None or now - row.last_used_at >= _TOUCH_EVERY:
            # A conditional UPDATE, so concurrent requests do not queue up on the same row lock.
            s.execute(sa.update(ApiKey).where(ApiKey.id == row.id, sa.or_(
                ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - _TOUCH_EVERY))
                .values(last_used_at=now))
        return ApiCaller(key_id=row.id, account_id=row.account_id, dealer_id=row.dealer_id, prefix=row.prefix)
