"""Follow, re-follow, QR scans by followers, and unfollow.

A one-time binding code (`bind:<token>`) hands over to the binding conversation after the usual
follow or scan bookkeeping (handlers.binding.start_from_code asks for consent).
"""

from __future__ import annotations

from handlers.binding import start_from_code
from scrm.services import followers, keywords
from scrm.services.binding_codes import token_of
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Reply, TextReply
from scrm.wechat.router import Context, Router, event

router = Router("subscribe")


@router.on(event("subscribe"))
def welcome(msg: Inbound, ctx: Context) -> Reply:
    """Record the follow and greet: the dealer's own welcome text when its QR code brought them."""
    result = followers.subscribe(ctx.account_id, msg.openid, scene=msg.scene)
    ctx.conv.clear()
    dealer = result.dealer
    if dealer is not None and dealer.welcome_text and result.scene.dealer_id == dealer.id:
        parts = [keywords.render_text(dealer.welcome_text, dealer),
                 ctx.text("subscribe/acknowledge.txt", result=result)]
        reply = TextReply("\n\n".join(p for p in parts if p))
    else:
        reply = ctx.render("subscribe/welcome.txt", result=result)
    token = token_of(msg.scene)
    if token is not None:
        return TextReply(start_from_code(ctx, token, prefix=reply.content))
    return reply


@router.on(event("scan"))
def scanned(msg: Inbound, ctx: Context) -> Reply:
    """A follower scanned a QR code: show the dealer it belongs to."""
    result = followers.record_scan(ctx.account_id, msg.openid, msg.scene)
    token = token_of(msg.scene)
    if token is not None:
        return TextReply(start_from_code(ctx, token))
    if result.dealer is not None:
        return ctx.render("dealer/card.txt", dealer=result.dealer)
    return ctx.render("subscribe/scanned.txt")


@router.on(event("unsubscribe"))
def farewell(msg: Inbound, ctx: Context) -> None:
    """Mark the follower gone and stop every pending push (they cannot read a reply)."""
    followers.unsubscribe(ctx.account_id, msg.openid)
    ctx.conv.clear()
