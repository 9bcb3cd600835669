"""附近门店: dealers nearest to a location the follower sends (or last reported), with distance and links.

The LOCATION event (reported automatically when the chat opens) stays silent (handlers.events keeps
it); its position is used here when it is recent. A location message outside any conversation is
kept and answered with the nearest dealers.
"""

from __future__ import annotations

from handlers import booking_steps as steps
from handlers.menu import menu_key
from scrm.services import followers, nearby
from scrm.services.booking_chat import km_label
from scrm.services.nearby import NearbyDealer
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Reply
from scrm.wechat.router import Context, Router, any_of, click, msg_type, no_state, text

MENU_KEY = "NEARBY_DEALERS"
START_WORDS = ("附近门店", "门店", "附近的门店", "nearby", "nearby dealers")

router = Router("nearby")


def _answer(ctx: Context, near: list[NearbyDealer]) -> Reply:
    rows = [{"card": n.card, "km": km_label(n.km), "book_url": steps.calendar_url(ctx, n.card.id)} for n in near]
    return ctx.render("nearby/list.txt", dealers=rows)


@router.on(any_of(text(*START_WORDS), click(MENU_KEY)))
def start(msg: Inbound, ctx: Context) -> Reply:
    """The nearest dealers to a position reported within 24 h, else ask for a location."""
    ctx.conv.clear()
    pos = nearby.last_position(ctx.follower.id) if ctx.follower else None
    if pos is None:
        return ctx.render("nearby/ask_location.txt", problem=False)
    near = nearby.nearest(ctx.account_id, pos.latitude, pos.longitude)
    return _answer(ctx, near) if near else ctx.render("nearby/none.txt")


menu_key(MENU_KEY)(start)


@router.on(no_state(), msg_type("location"))
def location(msg: Inbound, ctx: Context) -> Reply:
    """A location message: keep it and answer the nearest dealers with distance, address, phone, link."""
    lat, lng = msg.location_x, msg.location_y
    if lat is None or lng is None or not nearby.valid(lat, lng) \
            or not followers.record_location(ctx.account_id, msg.openid, lat, lng):
        return ctx.render("nearby/ask_location.txt", problem=True)
    near = nearby.nearest(ctx.account_id, lat, lng)
    return _answer(ctx, near) if near else ctx.render("nearby/none.txt")
