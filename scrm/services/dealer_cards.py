"""Read-only dealer facts the bot shows: a dealer's card and the list of active dealers.

Cards and lists are cached per process and dropped together whenever any dealer changes (content_cache's
`dealers` token, replaced on every committed Dealer change), so a push reads no SQL once warm.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Dealer
from scrm.services import content_cache


@dataclass(frozen=True)
class DealerCard:
    """What a follower may see of a dealer."""

    id: int
    code: str
    name: str
    city: str
    address: str
    phone: str
    welcome_text: str

    @property
    def full_address(self) -> str:
        """The address with its city in front, unless it already starts with it."""
        if not self.address or self.address.startswith(self.city):
            return self.address
        return self.city + self.address


def _card(d: Dealer) -> DealerCard:
    return DealerCard(id=d.id, code=d.code, name=d.name, city=d.city, address=d.address, phone=d.phone,
                      welcome_text=d.welcome_text)


def card_in(s: Session, dealer_id: int | None) -> DealerCard | None:
    """The card of an active dealer, read in the caller's session."""
    if dealer_id is None:
        return None
    d = s.get(Dealer, dealer_id)
    return _card(d) if d is not None and d.active else None


def _card_map(_scope: str) -> dict[int, DealerCard | None]:
    return {}  # filled lazily, one dealer at a time, until the token changes


_cards: content_cache.Versioned[str, dict[int, DealerCard | None]] = content_cache.Versioned(
    content_cache.DEALERS, _card_map)


def dealer_card(dealer_id: int | None) -> DealerCard | None:
    """The card of an active dealer (None when unknown or inactive)."""
    if dealer_id is None:
        return None
    cards = _cards.get("all")
    if dealer_id in cards:
        return cards[dealer_id]
    with db.transaction() as s:
        card = card_in(s, dealer_id)
    cards[dealer_id] = card
    return card


def _list_map(_scope: str) -> dict[tuple[int, int], tuple[DealerCard, ...]]:
    return {}  # (account, limit) -> the list, filled lazily until the token changes


_lists: content_cache.Versioned[str, dict[tuple[int, int], tuple[DealerCard, ...]]] = content_cache.Versioned(
    content_cache.DEALERS, _list_map)


def active_dealers(account_id: int, limit: int = 10) -> list[DealerCard]:
    """The account's active dealers by city and name (cached like the cards: no SQL once warm)."""
    lists = _lists.get("all")
    found = lists.get((account_id, limit))
    if found is None:
        with db.transaction() as s:
            rows = s.scalars(sa.select(Dealer).where(Dealer.account_id == account_id, Dealer.active.is_(True))
                             .order_by(Dealer.city, Dealer.name, Dealer.id).limit(limit))
            found = lists[(account_id, limit)] = tuple(_card(d) for d in rows)
    return list(found)


def find_dealers(account_id: int, words: str, limit: int = 10) -> list[DealerCard]:
    """Active dealers whose name, city or code contains `words` (case-insensitive), by city and name."""
    text = " ".join(words.split())[:30]
    if not text:
        return []
    like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with db.transaction() as s:
        rows = s.scalars(sa.select(Dealer).where(
            Dealer.account_id == account_id, Dealer.active.is_(True),
            sa.or_(Dealer.name.ilike(like, escape="\\"), Dealer.city.ilike(like, escape="\\"),
                   Dealer.code.ilike(like, escape="\\")))
            .order_by(Dealer.city, Dealer.name, Dealer.id).limit(limit))
        return [_card(d) for d in rows]
