"""The admin side of scoping: the current staff user's Scope applied to queries and lookups.

Every admin query on an account's rows goes through `scoped(...)`, every lookup by id through
`get_scoped(...)` (404 when out of scope). The rule itself lives in `scrm.services.scope.Scope`, so
services apply exactly the same filter.
"""

from __future__ import annotations

from typing import Any, TypeVar, TypeVarTuple

import sqlalchemy as sa
from flask import abort, g, request

from scrm import db
from scrm.models import StaffUser
from scrm.services.errors import NotFound
from scrm.services.scope import Perm, Scope

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

__all__ = ["Perm", "Scope", "current_scope", "current_staff", "get_scoped", "scoped"]


def current_staff() -> StaffUser:
    """The signed-in staff user (admin views run only after the login check)."""
    staff: StaffUser | None = g.get("staff")
    if staff is None:
        abort(401)
    return staff


def pick_dealer() -> tuple[int, list[Any]]:
    """The dealer a page is about: a dealer role's own; a brand admin's choice (?dealer=, else the first).

    Returns the dealer id and, for a brand admin, the dealers to choose from (empty for dealer roles);
    a dealer out of scope, or none at all, is a 404.
    """
    from scrm.admin.forms import parse_int
    from scrm.services.keyword_admin import dealer_choices

    scope = current_scope()
    if not scope.all_dealers:
        if scope.dealer_id is None:
            abort(404)
        return scope.dealer_id, []
    dealers = dealer_choices(scope)
    chosen = parse_int(request.values.get("dealer"))
    ids = [d.id for d in dealers]
    if chosen in ids:
        return int(chosen), dealers
    if chosen is not None or not ids:
        abort(404)
    return ids[0], dealers


def current_scope() -> Scope:
    """The scope of the signed-in staff user."""
    scope: Scope | None = g.get("scope")
    if scope is None:
        scope = Scope.of(current_staff())
        g.scope = scope
    return scope


def scoped(stmt: sa.Select[*Ts], model: type[Any], *, shared: bool = False) -> sa.Select[*Ts]:
    """`stmt` filtered to the rows of `model` the current user may see."""
    return current_scope().apply(stmt, model, shared=shared)


def get_scoped(model: type[T], ident: Any, *, shared: bool = False) -> T:
    """A row by id, or 404 when it does not exist or is out of the current user's scope."""
    try:
        return current_scope().get(db.session(), model, ident, shared=shared)
    except NotFound:
        abort(404)
