"""The account's menu: validation, saved versions, and pushing it to WeChat."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.config import AccountSettings
from scrm.models import Account, MenuVersion, StaffUser
from scrm.services import accounts, audit
from scrm.services.errors import DomainError, NotFound
from scrm.services.menu_rules import N_, NO_MENU, MenuProblem, normalize_menu, validate_menu
from scrm.wechat.client import api_for
from scrm.wechat.errors import AccountMisconfigured, InvalidCredential, NetworkError, QuotaExceeded, WeChatError

log = logging.getLogger(__name__)

__all__ = ["MenuInvalid", "MenuProblem", "MenuSyncFailed", "current_menu", "save_menu", "show_menu_cli",
           "sync_menu", "sync_menu_cli", "validate_menu"]


class MenuInvalid(DomainError):
    """The menu breaks WeChat's rules; `problems` says where and why."""

    message = N_("The menu is not valid. Fix the marked fields and try again.")

    def __init__(self, problems: list[MenuProblem]) -> None:
        super().__init__()
        self.problems = problems


class MenuSyncFailed(DomainError):
    """WeChat did not take the menu."""

    message = N_("WeChat did not accept the menu.")


def _friendly(exc: WeChatError) -> MenuSyncFailed:
    if isinstance(exc, NetworkError):
        return MenuSyncFailed(N_("WeChat could not be reached, so the menu was not pushed. Please try again shortly."))
    if isinstance(exc, QuotaExceeded):
        return MenuSyncFailed(N_("WeChat's daily limit for menu changes has been reached. Please try again tomorrow."))
    if isinstance(exc, InvalidCredential | AccountMisconfigured):
        return MenuSyncFailed(N_("WeChat refused the account's credentials (AppID, AppSecret or IP whitelist). "
                                 "Ask the administrator to check the account settings."))
    return MenuSyncFailed(N_("WeChat rejected the menu: %(detail)s (error %(code)s)."),
                          detail=exc.errmsg, code=exc.errcode if exc.errcode is not None else "-")


def _account(s: Session, account_id: int) -> tuple[Account, AccountSettings]:
    row = s.get(Account, account_id)
    if row is None:
        raise NotFound(N_("This official account does not exist."))
    try:
        return row, accounts.settings_for(row.slug)
    except KeyError:
        raise NotFound(N_("This official account is not configured.")) from None


def _newest(s: Session, account_id: int) -> MenuVersion | None:
    return s.scalar(sa.select(MenuVersion).where(MenuVersion.account_id == account_id)
                    .order_by(MenuVersion.id.desc()).limit(1))


def _staff(s: Session, staff_id: int | None) -> StaffUser | None:
    return s.get(StaffUser, staff_id) if staff_id is not None else None


def current_menu(account_id: int) -> list[dict[str, Any]]:
    """The newest saved menu, else the account's configured default."""
    with db.transaction() as s:
        _row, acc = _account(s, account_id)
        version = _newest(s, account_id)
        if version is not None:
            return [dict(b) for b in version.buttons]
        return [b.to_wechat() for b in acc.menu]


def save_menu(account_id: int, buttons: list[dict[str, Any]], staff_id: int | None, *, ip: str = "") -> int:
    """Validate and store a new version of the menu (not yet pushed); return its id. Audited as menu.save."""
    problems = validate_menu(buttons)
    if problems:
        raise MenuInvalid(problems)
    clean = normalize_menu(buttons)
    with db.transaction() as s:
        _account(s, account_id)
        version = MenuVersion(account_id=account_id, buttons=clean, created_by=staff_id, sync_error="")
        s.add(version)
        s.flush()
        audit.record(s, staff=_staff(s, staff_id), action="menu.save", target_type="menu_version",
                     target_id=version.id, detail={"buttons": len(clean)}, account_id=account_id, ip=ip)
        return version.id


def _finish_sync(version_id: int, account_id: int, staff_id: int | None, error: str, ip: str) -> None:
    with db.transaction() as s:
        version = s.get(MenuVersion, version_id)
        assert version is not None
        version.sync_error = error[:255]
        if not error:
            version.synced_at = db.utcnow()
        audit.record(s, staff=_staff(s, staff_id), action="menu.sync_failed" if error else "menu.sync",
                     target_type="menu_version", target_id=version_id,
                     detail={"error": error} if error else {}, account_id=account_id, ip=ip)


def sync_menu(account_id: int, staff_id: int | None = None, *, ip: str = "") -> None:
    """Push the current menu to WeChat and record when (or why not); raises DomainError on failure.

    Audited as menu.sync or menu.sync_failed (callers pass the client's `ip`, and add no audit row).
    """
    with db.transaction() as s:
        _row, acc = _account(s, account_id)
        version = _newest(s, account_id)
        if version is None:
            # Only the config default exists: keep a version of it, so the push has a record.
            default = [b.to_wechat() for b in acc.menu]
            if not default:
                raise MenuInvalid([MenuProblem("button", NO_MENU)])
            problems = validate_menu(default)
            if problems:
                raise MenuInvalid(problems)
            version = MenuVersion(account_id=account_id, buttons=normalize_menu(default), created_by=None,
                                  sync_error="")
            s.add(version)
            s.flush()
        problems = validate_menu(version.buttons)
        if problems:
            raise MenuInvalid(problems)
        version_id, buttons = version.id, [dict(b) for b in version.buttons]
    try:
        api_for(acc).create_menu(buttons)
    except WeChatError as exc:
        log.warning("menu sync for %s failed: %s", acc.slug, exc)
        _finish_sync(version_id, account_id, staff_id, exc.describe(), ip)
        raise _friendly(exc) from exc
    _finish_sync(version_id, account_id, staff_id, "", ip)
    log.info("menu version %s pushed to WeChat for %s", version_id, acc.slug)


def _cli_error(exc: DomainError) -> DomainError:
    """The same error with its text filled in (the command line is not translated)."""
    text = exc.message % exc.params if exc.params else exc.message
    if isinstance(exc, MenuInvalid):
        text += " " + "; ".join(f"{p.path}: {p.text()}" for p in exc.problems)
    return DomainError(text)


def _slug_id(slug: str) -> int:
    try:
        accounts.settings_for(slug)
    except KeyError:
        raise DomainError(f"no account {slug!r} in the configuration") from None
    return accounts.account_id(slug)


def sync_menu_cli(slug: str) -> list[dict[str, Any]]:
    """`scrm menu sync --account <slug>`: push the current menu; return what was pushed."""
    account_id = _slug_id(slug)
    try:
        sync_menu(account_id, None)
    except DomainError as exc:
        raise _cli_error(exc) from exc
    return current_menu(account_id)


def show_menu_cli(slug: str, remote: bool) -> dict[str, Any]:
    """`scrm menu show --account <slug> [--remote]`: our current menu, or the one WeChat has."""
    account_id = _slug_id(slug)
    if remote:
        try:
            return api_for(accounts.settings_for(slug)).get_menu()
        except WeChatError as exc:
            raise _cli_error(_friendly(exc)) from exc
    with db.transaction() as s:
        version = _newest(s, account_id)
        info: dict[str, Any] = {
            "source": "saved" if version else "config",
            "version": version.id if version else None,
            "synced_at": version.synced_at.isoformat() if version and version.synced_at else None,
            "sync_error": version.sync_error if version else "",
        }
    return {**info, "button": current_menu(account_id)}
