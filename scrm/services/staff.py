"""Staff accounts: creation, sign-in (argon2, rate limited), deactivation, password resets."""

from __future__ import annotations

import hashlib
import math
import re

import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import Dealer, Role, StaffUser
from scrm.security import hash_password, needs_rehash, verify_password
from scrm.services import audit
from scrm.services.errors import DomainError, Forbidden, Invalid, NotFound
from scrm.services.paging import Page, paginate
from scrm.services.scope import Perm, Scope
from scrm.services.validation import Problems

USERNAME = re.compile(r"^[a-z0-9_.-]{3,64}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 256
LOGIN_WINDOW_SECONDS = 15 * 60
LANGUAGES = ("zh", "en")


class LoginFailed(DomainError):
    """Unknown username or wrong password: one message for both (no account enumeration)."""

    message = "Wrong username or password."


class LoginDisabled(DomainError):
    """Right password, but the account was deactivated."""

    message = "This account has been deactivated. Ask your brand admin to reactivate it."


class LoginThrottled(DomainError):
    """Too many failed attempts for this username or from this address."""

    message = "Too many sign-in attempts. Please wait %(minutes)s minutes and try again."


def normalise_username(username: str) -> str:
    """Usernames are compared trimmed and lower-case."""
    return username.strip().lower()


def create_staff(*, account_id: int, username: str, password: str, role: Role | str, dealer_id: int | None,
                 display_name: str, actor: StaffUser | None, ip: str = "") -> StaffUser:
    """Create a staff user after validating every field; `actor` None means the command line."""
    if actor is not None:
        Scope.of(actor).require(Perm.STAFF_MANAGE)
        if actor.account_id != account_id:
            raise Forbidden()
    name = normalise_username(username)
    display = display_name.strip()
    problems = Problems()
    if not USERNAME.match(name):
        problems.add("username", "Username: 3-64 characters, lower-case letters, digits, _ . or -.")
    try:
        role_value = Role(role)
    except ValueError:
        problems.add("role", "Choose a role.")
        role_value = None
    _check_password(problems, "password", password, name)
    if len(display) > 64:
        problems.add("display_name", "Display name: at most %(max)s characters.", max=64)
    with db.transaction() as s:
        if not problems.has("username") and s.scalar(sa.select(StaffUser.id).where(StaffUser.username == name)):
            problems.add("username", "That username is already taken.")
        if role_value == Role.BRAND_ADMIN and dealer_id is not None:
            problems.add("dealer_id", "A brand admin belongs to no dealer.")
        elif role_value in (Role.DEALER_MANAGER, Role.DEALER_STAFF):
            dealer = s.get(Dealer, dealer_id) if dealer_id is not None else None
            if dealer is None or dealer.account_id != account_id:
                problems.add("dealer_id", "Choose the dealer this person works for.")
        problems.raise_if_any()
        assert role_value is not None
        user = StaffUser(account_id=account_id, dealer_id=dealer_id, username=name, display_name=display,
                         password_hash=hash_password(password), role=role_value, active=True,
                         language=runtime.get().settings.app.default_language)
        s.add(user)
        s.flush()
        audit.record(s, staff=actor, action="staff.create", target_type="staff", target_id=user.id,
                     detail={"username": name, "role": role_value.value}, ip=ip,
                     account_id=account_id, dealer_id=dealer_id)
    return user


def _check_password(problems: Problems, field: str, password: str, username: str) -> None:
    if len(password) < MIN_PASSWORD:
        problems.add(field, "Password: at least %(min)s characters.", min=MIN_PASSWORD)
    elif len(password) > MAX_PASSWORD:
        problems.add(field, "Password: at most %(max)s characters.", max=MAX_PASSWORD)
    elif password.strip().lower() == username:
        problems.add(field, "The password must not be the username.")


def create_staff_cli(username: str, role: str, account_slug: str, dealer_code: str | None,
                     display_name: str, password: str) -> int:
    """`scrm user create`: resolve the account slug and dealer code, then create_staff.

    Errors come back as one DomainError whose message is already formatted (the CLI prints it).
    """
    from scrm.services.accounts import account_id as resolve_account

    try:
        if runtime.get().settings.account(account_slug) is None:
            raise Invalid("Unknown official account %(slug)s.", field="account", slug=account_slug)
        acc_id = resolve_account(account_slug)
        dealer_id = None
        if dealer_code:
            dealer_id = db.session.scalar(sa.select(Dealer.id).where(
                Dealer.account_id == acc_id, Dealer.code == dealer_code.strip().upper()))
            if dealer_id is None:
                raise Invalid("Unknown dealer code %(code)s.", field="dealer", code=dealer_code)
        user = create_staff(account_id=acc_id, username=username, password=password, role=role,
                            dealer_id=dealer_id, display_name=display_name, actor=None)
    except DomainError as exc:
        problems = getattr(exc, "problems", None) or [exc]
        text = " ".join(_plain(p.message, p.params) for p in problems)
        raise Invalid(text) from exc
    return user.id


def _plain(message: str, params: dict[str, object]) -> str:
    """A msgid with its params filled in (untranslated: for the command line)."""
    return message % params if params else message


def _login_keys(username: str, ip: str) -> tuple[str, str]:
    rt = runtime.get()
    digest = hashlib.sha256(username.encode()).hexdigest()[:32]
    return rt.key("login", "user", digest), rt.key("login", "ip", ip or "-")


def authenticate(username: str, password: str, ip: str) -> StaffUser:
    """Check a sign-in; raise LoginThrottled, LoginFailed or LoginDisabled; audit every outcome."""
    name = normalise_username(username)[:64]
    rt = runtime.get()
    limit = rt.settings.app.login_attempts_per_15min
    ukey, ikey = _login_keys(name, ip)
    counts = rt.redis.mget(ukey, ikey)
    if any(int(c or 0) >= limit for c in counts):
        ttl = max(int(rt.redis.ttl(ukey)), int(rt.redis.ttl(ikey)), 60)
        with db.transaction() as s:
            user = s.scalar(sa.select(StaffUser).where(StaffUser.username == name))
            audit.record(s, staff=user, action="auth.login_blocked", target_type="staff",
                         target_id=user.id if user else "", detail={"username": name}, ip=ip)
        raise LoginThrottled(minutes=math.ceil(ttl / 60))
    with db.transaction() as s:
        user = s.scalar(sa.select(StaffUser).where(StaffUser.username == name))
        ok = verify_password(user.password_hash if user else None, password)
        if user is None or not ok or not user.active:
            _count_failure(ukey, ikey)
            reason = "unknown_user" if user is None else ("wrong_password" if not ok else "inactive")
            audit.record(s, staff=user, action="auth.login_failed", target_type="staff",
                         target_id=user.id if user else "", detail={"username": name, "reason": reason}, ip=ip)
            failed: DomainError = LoginDisabled() if user is not None and ok else LoginFailed()
        else:
            if needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            user.last_login_at = db.utcnow()
            audit.record(s, staff=user, action="auth.login", target_type="staff", target_id=user.id, ip=ip)
            rt.redis.delete(ukey)
            return user
    raise failed


def _count_failure(*keys: str) -> None:
    redis = runtime.get().redis
    pipe = redis.pipeline()
    for key in keys:
        pipe.incr(key)
        pipe.expire(key, LOGIN_WINDOW_SECONDS, nx=True)
    pipe.execute()


def record_logout(staff: StaffUser, ip: str) -> None:
    """Audit a sign-out."""
    with db.transaction() as s:
        audit.record(s, staff=staff, action="auth.logout", target_type="staff", target_id=staff.id, ip=ip)


def session_fingerprint(staff: StaffUser) -> str:
    """Changes when the password changes: a reset ends every other session of that user."""
    return hashlib.sha256(f"{staff.id}:{staff.password_hash}".encode()).hexdigest()[:24]


def list_staff(scope: Scope, page: int = 1, per_page: int = 50) -> Page[StaffUser]:
    """Staff in scope: active first, then by username."""
    stmt = scope.apply(sa.select(StaffUser), StaffUser).order_by(StaffUser.active.desc(), StaffUser.username)
    return paginate(db.session(), stmt, page, per_page)


def _managed(actor: StaffUser, staff_id: int) -> tuple[Scope, StaffUser]:
    scope = Scope.of(actor)
    scope.require(Perm.STAFF_MANAGE)
    target = scope.get(db.session(), StaffUser, staff_id)
    return scope, target


def set_active(actor: StaffUser, staff_id: int, active: bool, ip: str = "") -> StaffUser:
    """Deactivate or reactivate a staff account (never your own)."""
    _, target = _managed(actor, staff_id)
    if target.id == actor.id:
        raise Invalid("You cannot deactivate your own account.")
    with db.transaction() as s:
        if target.active != active:
            target.active = active
            audit.record(s, staff=actor, action="staff.activate" if active else "staff.deactivate",
                         target_type="staff", target_id=target.id, detail={"username": target.username},
                         ip=ip, dealer_id=target.dealer_id)
    return target


def reset_password(actor: StaffUser, staff_id: int, password: str, ip: str = "") -> StaffUser:
    """Set a new password for a staff member; their other sessions end."""
    _, target = _managed(actor, staff_id)
    problems = Problems()
    _check_password(problems, "password", password, target.username)
    problems.raise_if_any()
    with db.transaction() as s:
        target.password_hash = hash_password(password)
        audit.record(s, staff=actor, action="staff.password_reset", target_type="staff", target_id=target.id,
                     detail={"username": target.username}, ip=ip, dealer_id=target.dealer_id)
    return target


def set_language(staff: StaffUser, language: str, ip: str = "") -> None:
    """Remember the staff member's display language."""
    if language not in LANGUAGES:
        raise Invalid("Unknown language.", field="lang")
    with db.transaction() as s:
        row = s.get(StaffUser, staff.id)
        if row is None:
            raise NotFound()
        if row.language != language:
            row.language = language
            audit.record(s, staff=row, action="staff.language", target_type="staff", target_id=row.id,
                         detail={"language": language}, ip=ip)
