"""Follow, re-follow, QR scans by followers, and unfollow."""

from __future__ import annotations

from scrm.services import followers, keywords
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
        return TextReply("\n\n".join(p for p in parts if p))
    return ctx.render("subscribe/welcome.txt", result=result)


@router.on(event("scan"))
def scanned(msg: Inbound, ctx: Context) -> Reply:
    """A follower scanned a QR code: show the dealer it belongs to."""
    result = followers.record_scan(ctx.account_id, msg.openid, msg.scene)
    if result.dealer is not None:
        return ctx.render("dealer/card.txt", dealer=result.dealer)
    return ctx.render("subscribe/scanned.txt")


@router.on(event("unsubscribe"))
def farewell(msg: Inbound, ctx: Context) -> None:
    """Mark the follower gone and stop every pending push (they cannot read a reply)."""
    followers.unsubscribe(ctx.account_id, msg.openid)
    ctx.conv.clear()
