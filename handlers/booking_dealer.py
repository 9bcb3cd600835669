"""Step 1 of booking in chat: which dealer. The bound one; one of several bound ones; the follower's own
dealer (from the QR scene); the nearest ones to the last reported position; else a list of dealers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from scrm.services import binding, dealer_cards, followers, nearby
from scrm.services.dealer_cards import DealerCard
from scrm.services.nearby import NearbyDealer
from scrm.wechat.conversation import State
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Reply
from scrm.wechat.router import Context

LIST_SIZE = 10  # dealers listed by number; beyond that the follower types a city or a name
NEAR_SIZE = 5
POSITION_AGE = timedelta(days=7)  # a position this old still says where the follower lives


def ask_dealer(ctx: Context, state: State) -> Reply | int:
    """The dealer to book at (an int) when it is known, else ask: bound ones, nearest ones, or all."""
    assert ctx.follower is not None
    bound = [c for b in binding.bindings_of(ctx.follower.id) if (c := dealer_cards.dealer_card(b.dealer_id))]
    if len(bound) == 1:
        return bound[0].id
    if bound:
        return _offer(ctx, state, [(c, None) for c in bound], source="bound")
    own = binding.dealer_of(ctx.account_id, ctx.dealer_id)
    if own is not None:
        return own
    pos = nearby.last_position(ctx.follower.id, max_age=POSITION_AGE)
    if pos is not None:
        near = nearby.nearest(ctx.account_id, pos.latitude, pos.longitude, NEAR_SIZE)
        if near:
            return _near(ctx, state, near)
    dealers = dealer_cards.active_dealers(ctx.account_id, limit=LIST_SIZE + 1)
    if not dealers:
        ctx.conv.clear()
        return ctx.render("booking/no_dealers.txt")
    if len(dealers) == 1:
        return dealers[0].id
    return _offer(ctx, state, [(c, None) for c in dealers[:LIST_SIZE]], source="list",
                  more=len(dealers) > LIST_SIZE)


def _near(ctx: Context, state: State, near: list[NearbyDealer]) -> Reply:
    return _offer(ctx, state, [(n.card, n.km) for n in near], source="near")


def _offer(ctx: Context, state: State, dealers: list[tuple[DealerCard, float | None]], *, source: str,
           more: bool = False, query: str = "") -> Reply:
    ctx.conv.enter(state, choices=[c.id for c, _km in dealers], km=[km for _c, km in dealers], source=source,
                   more=more)
    return render(ctx, query=query)


def render(ctx: Context, problem: str = "", query: str = "") -> Reply:
    """The dealer question from the draft."""
    data = ctx.conv.data
    rows: list[dict[str, Any]] = []
    for dealer_id, km in zip(data.get("choices") or [], data.get("km") or [], strict=False):
        card = dealer_cards.dealer_card(int(dealer_id))
        if card is not None:
            rows.append({"card": card, "km": None if km is None else f"{max(float(km), 0.1):.1f}"})
    return ctx.render("booking/choose_dealer.txt", dealers=rows, source=data.get("source", "list"),
                      more=bool(data.get("more")), problem=problem, query=query)


def take_location(msg: Inbound, ctx: Context, state: State) -> Reply:
    """A location sent at the dealer step: keep it and offer the nearest dealers."""
    lat, lng = msg.location_x, msg.location_y
    if lat is None or lng is None or not nearby.valid(lat, lng) \
            or not followers.record_location(ctx.account_id, msg.openid, lat, lng):
        return render(ctx, problem="bad_location")
    near = nearby.nearest(ctx.account_id, lat, lng, NEAR_SIZE)
    if not near:
        return render(ctx, problem="no_near")
    return _near(ctx, state, near)


def search(msg: Inbound, ctx: Context, state: State) -> Reply | int:
    """Not a number: a city or part of a dealer's name narrows the choice (an int when one matches)."""
    found = dealer_cards.find_dealers(ctx.account_id, msg.content, limit=LIST_SIZE + 1)
    if len(found) == 1:
        return found[0].id
    query = " ".join(msg.content.split())[:30]
    if not found:
        return render(ctx, problem="bad", query=query)
    return _offer(ctx, state, [(c, None) for c in found[:LIST_SIZE]], source="list", more=len(found) > LIST_SIZE,
                  query=query)
