"""The scoping rule, without a database: which rows a scope keeps, and the SQL it adds."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from scrm.models import Account, AuditLog, Dealer, Follower, KeywordReply, MenuVersion, MessageLog, Role
from scrm.services.errors import Forbidden
from scrm.services.scope import Perm, Scope

BRAND = Scope(account_id=1, dealer_id=None, role=Role.BRAND_ADMIN)
MANAGER = Scope(account_id=1, dealer_id=7, role=Role.DEALER_MANAGER)
STAFF = Scope(account_id=1, dealer_id=7, role=Role.DEALER_STAFF)
LOST = Scope(account_id=1, dealer_id=None, role=Role.DEALER_STAFF)  # a dealer role without a dealer


def sql(scope: Scope, model: type, shared: bool = False) -> str:
    stmt = scope.apply(sa.select(model.id), model, shared=shared)
    return str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def test_brand_admin_filters_by_account_only() -> None:
    assert "followers.account_id = 1" in sql(BRAND, Follower)
    assert "dealer_id" not in sql(BRAND, Follower).split("WHERE")[1]


def test_dealer_roles_filter_by_dealer_too() -> None:
    where = sql(MANAGER, Follower).split("WHERE")[1]
    assert "followers.account_id = 1" in where and "followers.dealer_id = 7" in where
    assert "dealers.id = 7" in sql(STAFF, Dealer)
    shared = sql(MANAGER, KeywordReply, shared=True)
    assert "keyword_replies.dealer_id = 7 OR keyword_replies.dealer_id IS NULL" in shared
    assert "IS NULL" not in sql(MANAGER, KeywordReply)
    assert "false" in sql(LOST, Follower).lower()


def test_owned_through_a_parent() -> None:
    where = sql(MANAGER, MessageLog).split("WHERE", 1)[1]
    assert "message_logs.follower_id IN (SELECT followers.id" in where and "followers.dealer_id = 7" in where


def test_account_level_and_account_rows() -> None:
    assert "menu_versions.account_id = 1" in sql(STAFF, MenuVersion)
    assert "dealer_id" not in sql(STAFF, MenuVersion).split("WHERE")[1]
    assert "accounts.id = 1" in sql(STAFF, Account)


def test_allows_matches_the_rule() -> None:
    mine = KeywordReply(account_id=1, dealer_id=7)
    theirs = KeywordReply(account_id=1, dealer_id=8)
    shared = KeywordReply(account_id=1, dealer_id=None)
    foreign = KeywordReply(account_id=2, dealer_id=7)
    assert [MANAGER.allows(r) for r in (mine, theirs, shared, foreign)] == [True, False, False, False]
    assert [MANAGER.allows(r, shared=True) for r in (mine, theirs, shared, foreign)] == [True, False, True, False]
    assert [BRAND.allows(r) for r in (mine, theirs, shared, foreign)] == [True, True, True, False]
    assert not LOST.allows(mine)
    assert STAFF.allows(Dealer(id=7, account_id=1)) and not STAFF.allows(Dealer(id=8, account_id=1))
    assert STAFF.allows(AuditLog(account_id=1, dealer_id=7))
    assert not STAFF.allows(AuditLog(account_id=1, dealer_id=None))


def test_permissions() -> None:
    assert BRAND.can(Perm.MENU_EDIT) and BRAND.can(Perm.KEYWORDS_EDIT_SHARED) and BRAND.all_dealers
    assert MANAGER.can(Perm.KEYWORDS_EDIT) and not MANAGER.can(Perm.KEYWORDS_EDIT_SHARED)
    assert not MANAGER.can(Perm.MENU_EDIT) and not MANAGER.all_dealers
    assert [p for p in Perm if STAFF.can(p)] == [Perm.VOUCHERS_USE]  # plain staff only use vouchers at the counter
    with pytest.raises(Forbidden):
        STAFF.require(Perm.AUDIT_VIEW)
    assert MANAGER.dealer_ok(7) and not MANAGER.dealer_ok(8) and not MANAGER.dealer_ok(None)
    assert BRAND.dealer_ok(None) and BRAND.dealer_ok(8)


def test_unknown_models_must_be_declared() -> None:
    class Loose:  # no account_id, no registration
        id = 1

    with pytest.raises(TypeError, match="no scoping rule"):
        BRAND.apply(sa.select(sa.literal(1)), Loose)
