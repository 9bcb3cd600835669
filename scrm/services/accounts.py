"""Official accounts: configured in settings, mirrored as rows so other rows can refer to them."""

from __future__ import annotations

import sqlalchemy as sa

from scrm import db, runtime
from scrm.config import AccountSettings
from scrm.models import Account

_ids: dict[str, int] = {}


def sync_accounts() -> dict[str, int]:
    """Create or update a row for every configured account; return slug -> id."""
    settings = runtime.get().settings
    with db.transaction() as s:
        for acc in settings.accounts.values():
            row = s.scalar(sa.select(Account).where(Account.slug == acc.slug))
            if row is None:
                row = Account(slug=acc.slug, name=acc.name, app_id=acc.app_id)
                s.add(row)
            else:
                row.name, row.app_id = acc.name, acc.app_id
        s.flush()
        ids = {a.slug: a.id for a in s.scalars(sa.select(Account))}
    _ids.clear()
    _ids.update(ids)
    return ids


def account_id(slug: str) -> int:
    """The row id of a configured account (synced on first use)."""
    if slug not in _ids:
        sync_accounts()
    return _ids[slug]


def forget_cache() -> None:
    """Drop cached ids (tests truncate tables between cases)."""
    _ids.clear()


def settings_for(slug: str) -> AccountSettings:
    """The configured account, or KeyError."""
    acc = runtime.get().settings.account(slug)
    if acc is None:
        raise KeyError(slug)
    return acc


def settings_for_id(account_id_: int) -> AccountSettings:
    """The configured account behind a row id."""
    row = db.session.get(Account, account_id_)
    if row is None:
        raise KeyError(account_id_)
    return settings_for(row.slug)
