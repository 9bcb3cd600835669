"""Helpers for the API tests: a dealer with a fresh key, and the Authorization header."""

from __future__ import annotations

from typing import Any

from scrm.models import Dealer, Role
from scrm.services.scope import Scope
from tests.factories import make_dealer, make_staff


def new_key(dealer: Dealer | None = None, name: str = "DMS") -> tuple[Dealer, str, int]:
    """A dealer (made when not given), a key for it, and the key's id."""
    from scrm.services import api_keys

    dealer = dealer or make_dealer()
    admin = make_staff(role=Role.BRAND_ADMIN)
    row, key = api_keys.create_key(admin, Scope.of(admin), dealer.id, name)
    return dealer, key, row.id


def auth(key: str) -> dict[str, Any]:
    """The header that presents `key`."""
    return {"Authorization": f"Bearer {key}"}
