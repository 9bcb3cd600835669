"""The menu as staff edit it: the current buttons and sync state, save and push with audit rows.

Validation, versions, the push and their audit rows are `scrm.services.menu`'s; this adds the
permission check and what the editor page reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from scrm import db
from scrm.models import MenuVersion, StaffUser
from scrm.services.scope import Perm, Scope


@dataclass(frozen=True)
class MenuState:
    """The buttons in force and the newest saved version (None: the configured default is in force)."""

    buttons: list[dict[str, Any]]
    version: MenuVersion | None


def menu_state(scope: Scope) -> MenuState:
    """What the editor shows."""
    from scrm.services.menu import current_menu

    version = db.session.scalar(scope.apply(sa.select(MenuVersion), MenuVersion)
                                .order_by(MenuVersion.id.desc()).limit(1))
    return MenuState(buttons=current_menu(scope.account_id), version=version)


def save(actor: StaffUser, buttons: list[dict[str, Any]], ip: str = "") -> int:
    """Save a new menu version (brand admin); raises MenuInvalid with the validator's problems."""
    from scrm.services.menu import save_menu

    scope = Scope.of(actor)
    scope.require(Perm.MENU_EDIT)
    return save_menu(scope.account_id, buttons, actor.id, ip=ip)  # audited there as menu.save


def push(actor: StaffUser, ip: str = "") -> None:
    """Push the current menu to WeChat (brand admin); raises DomainError with a friendly message."""
    from scrm.services.menu import sync_menu

    scope = Scope.of(actor)
    scope.require(Perm.MENU_EDIT)
    sync_menu(scope.account_id, actor.id, ip=ip)  # audited there as menu.sync / menu.sync_failed
