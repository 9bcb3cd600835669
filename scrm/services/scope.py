"""Who may see and change what: the one scoping rule for staff, shared by services and admin views.

A `Scope` is derived from a staff user. Every query on an account's rows is filtered by
`account_id`; for dealer roles, rows that belong to a dealer are filtered by `dealer_id` too.
Models declare how they belong (see `_kind`): a `dealer_id` column, the dealer row itself, an
account-level row, or a row owned through a parent (a message log row through its follower).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, TypeVar, TypeVarTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.models import Account, AnalyticsRun, Dealer, Follower, MenuVersion, MessageLog, Role, StaffUser
from scrm.services.errors import Forbidden, NotFound

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class Perm(enum.StrEnum):
    """Permissions checked by views and services; roles map to sets of them."""

    KEYWORDS_EDIT = "keywords.edit"          # own dealer's replies (brand admin: all of them)
    KEYWORDS_EDIT_SHARED = "keywords.edit_shared"  # account-wide replies
    MENU_EDIT = "menu.edit"
    DEALERS_MANAGE = "dealers.manage"
    STAFF_MANAGE = "staff.manage"
    QR_MANAGE = "qr.manage"
    AUDIT_VIEW = "audit.view"
    CUSTOMER_TAGS = "customers.tags"  # edit a customer's tags
    CUSTOMER_BINDINGS = "customers.bindings"  # unbind a follower from a customer record
    CUSTOMER_PHONES = "customers.phones"  # see whole phone numbers (others see 138****5678)
    IMPORTS_START = "imports.start"  # upload a customer file for the own dealer (brand admin: any dealer)
    API_KEYS = "api_keys.manage"  # create and revoke the dealer system's API keys (own dealer / any dealer)
    CUSTOMERS_MERGE = "customers.merge"  # merge duplicate customer records and undo merges
    BOOKINGS_SETUP = "bookings.setup"  # booking rules, hours, closures, service types, demo fleet
    LOYALTY_RULES = "loyalty.rules"  # earning rules, tiers, badges (account-wide: brand admin; own dealer: manager)
    POINTS_ADJUST = "points.adjust"  # correct a member's points with a reason
    REWARDS_MANAGE = "rewards.manage"  # the own dealer's rewards catalogue and stock
    VOUCHERS_USE = "vouchers.use"  # verify and use a member's voucher at the counter
    EVENTS_MANAGE = "events.manage"  # create, publish and run owners' club events
    SEGMENTS_EDIT = "segments.edit"  # build and save segments (own dealer; brand admin: account-wide too)
    CAMPAIGNS_MANAGE = "campaigns.manage"  # compose, launch, pause and cancel campaigns; test sends
    JOURNEYS_EDIT = "journeys.edit"  # enable journeys and word their steps
    ANALYTICS_VIEW = "analytics.view"  # dashboards, churn risk and lead lists, their CSV exports
    TASKS_MANAGE = "tasks.manage"  # see every follow-up task of the dealer, assign and reassign them
    ALL_DEALERS = "dealers.all"


ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.BRAND_ADMIN: frozenset(Perm),
    Role.DEALER_MANAGER: frozenset({Perm.KEYWORDS_EDIT, Perm.AUDIT_VIEW, Perm.CUSTOMER_TAGS, Perm.CUSTOMER_BINDINGS,
                                    Perm.CUSTOMER_PHONES, Perm.IMPORTS_START, Perm.API_KEYS,
                                    Perm.CUSTOMERS_MERGE, Perm.BOOKINGS_SETUP, Perm.LOYALTY_RULES,
                                    Perm.POINTS_ADJUST, Perm.REWARDS_MANAGE, Perm.VOUCHERS_USE,
                                    Perm.EVENTS_MANAGE, Perm.SEGMENTS_EDIT, Perm.CAMPAIGNS_MANAGE,
                                    Perm.JOURNEYS_EDIT, Perm.ANALYTICS_VIEW, Perm.TASKS_MANAGE}),
    Role.DEALER_STAFF: frozenset({Perm.VOUCHERS_USE}),
}

# Account-level models: one per account, readable by every role of the account.
ACCOUNT_LEVEL: set[type[Any]] = {MenuVersion, AnalyticsRun}
# Models owned through a parent: (foreign-key column name, parent model).
OWNED_VIA: dict[type[Any], tuple[str, type[Any]]] = {MessageLog: ("follower_id", Follower)}


@dataclass(frozen=True)
class Scope:
    """What one staff user may see: an account, and for dealer roles one dealer."""

    account_id: int
    dealer_id: int | None
    role: Role
    staff_id: int | None = None

    @classmethod
    def of(cls, staff: StaffUser) -> Scope:
        """The scope of a staff user."""
        return cls(account_id=staff.account_id, dealer_id=staff.dealer_id, role=Role(staff.role),
                   staff_id=staff.id)

    @property
    def all_dealers(self) -> bool:
        """True when the user sees every dealer of the account (brand admin)."""
        return Perm.ALL_DEALERS in ROLE_PERMS[self.role]

    def can(self, perm: Perm) -> bool:
        """True when the role has `perm`."""
        return perm in ROLE_PERMS[self.role]

    def require(self, perm: Perm) -> None:
        """Raise Forbidden unless the role has `perm`."""
        if not self.can(perm):
            raise Forbidden()

    def apply(self, stmt: sa.Select[*Ts], model: type[Any], *,
              shared: bool = False) -> sa.Select[*Ts]:
        """Filter `stmt` to the rows of `model` in scope; `shared` adds account-wide (dealer-less) rows."""
        return stmt.where(self.condition(model, shared=shared))

    def condition(self, model: type[Any], *, shared: bool = False) -> sa.ColumnElement[bool]:
        """The WHERE clause that keeps `model` rows in scope."""
        kind = _kind(model)
        if kind == "account":
            return sa.and_(model.id == self.account_id)
        if kind == "via":
            column, parent = OWNED_VIA[model]
            parents = sa.select(parent.id).where(self.condition(parent, shared=shared))
            return sa.and_(model.account_id == self.account_id, getattr(model, column).in_(parents))
        account = model.account_id == self.account_id
        if kind == "account_level" or self.all_dealers:
            return sa.and_(account)
        dealer_col = model.id if kind == "dealer" else model.dealer_id
        if self.dealer_id is None:  # a dealer role without a dealer sees nothing dealer-owned
            mine: sa.ColumnElement[bool] = sa.false()
        else:
            mine = dealer_col == self.dealer_id
        if shared and kind == "dealer_owned":
            return sa.and_(account, sa.or_(mine, model.dealer_id.is_(None)))
        return sa.and_(account, mine)

    def allows(self, row: Any, *, shared: bool = False) -> bool:
        """True when an already-loaded row is in scope (same rule as `condition`)."""
        model = type(row)
        kind = _kind(model)
        if kind == "account":
            return bool(row.id == self.account_id)
        if row.account_id != self.account_id:
            return False
        if kind == "via":
            column, parent_model = OWNED_VIA[model]
            parent_id = getattr(row, column)
            if parent_id is None:
                return self.all_dealers
            from scrm import db

            parent = db.session.get(parent_model, parent_id)
            return parent is not None and self.allows(parent, shared=shared)
        if kind == "account_level" or self.all_dealers:
            return True
        dealer = row.id if kind == "dealer" else row.dealer_id
        if dealer is None:
            return shared and kind == "dealer_owned"
        return self.dealer_id is not None and dealer == self.dealer_id

    def get(self, s: Session, model: type[T], ident: Any, *, shared: bool = False) -> T:
        """Load a row by primary key; NotFound when it does not exist or is out of scope."""
        try:
            row = s.get(model, ident)
        except (ValueError, TypeError, sa.exc.DataError) as exc:
            raise NotFound() from exc
        if row is None or not self.allows(row, shared=shared):
            raise NotFound()
        return row

    def dealer_ok(self, dealer_id: int | None) -> bool:
        """True when rows may be written for `dealer_id` (None: account-wide) in this scope."""
        if self.all_dealers:
            return True
        return dealer_id is not None and dealer_id == self.dealer_id


def _kind(model: type[Any]) -> str:
    """How rows of `model` belong to an account and a dealer."""
    if model is Account:
        return "account"
    if model is Dealer:
        return "dealer"
    if model in OWNED_VIA:
        return "via"
    if model in ACCOUNT_LEVEL:
        return "account_level"
    if hasattr(model, "dealer_id") and hasattr(model, "account_id"):
        return "dealer_owned"
    raise TypeError(f"{model.__name__} has no scoping rule: add it to scrm.services.scope")
