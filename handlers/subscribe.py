"""Follow, re-follow, QR scans by followers, and unfollow.

A one-time binding code (`bind:<token>`) hands over to the binding conversation after the usual
follow or scan bookkeeping (handlers.binding.start_from_code asks for consent). Other features claim
their own scene prefixes with `@scene_hook("event")`: the hook runs after the bookkeeping, gets the
follow or scan result and the reply so far, and returns the reply to send (or None to keep it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from handlers.binding import start_from_code
from scrm.services import followers, keywords
from scrm.services.binding_codes import token_of
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Reply, TextReply
from scrm.wechat.router import Context, Router, event

router = Router("subscribe")
# scene prefix -> hook(msg, ctx, result, reply, followed) -> the reply to send, or None to keep `reply`
SceneHook = Callable[[Inbound, Context, Any, Reply, bool], Reply | None]
_HOOKS: dict[str, SceneHook] = {}


def scene_hook(prefix: str) -> Callable[[SceneHook], SceneHook]:
    """Register the hook of scenes `<prefix>:...` (one per prefix)."""
    def register(fn: SceneHook) -> SceneHook:
        if prefix in _HOOKS:
            raise ValueError(f"scene prefix {prefix} hooked twice")
        _HOOKS[prefix] = fn
        return fn
    return register


def _hooked(msg: Inbound, ctx: Context, result: Any, reply: Reply, followed: bool) -> Reply:
    prefix = (msg.scene or "").partition(":")[0]
    hook = _HOOKS.get(prefix) if prefix and ":" in (msg.scene or "") else None
    if hook is None:
        return reply
    return hook(msg, ctx, result, reply, followed) or reply


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
    return _hooked(msg, ctx, result, reply, True)


@router.on(event("scan"))
def scanned(msg: Inbound, ctx: Context) -> Reply:
    """A follower scanned a QR code: show the dealer it belongs to."""
    result = followers.record_scan(ctx.account_id, msg.openid, msg.scene)
    token = token_of(msg.scene)
    if token is not None:
        return TextReply(start_from_code(ctx, token))
    reply = ctx.render("dealer/card.txt", dealer=result.dealer) if result.dealer is not None \
        else ctx.render("subscribe/scanned.txt")
    return _hooked(msg, ctx, result, reply, False)


@router.on(event("unsubscribe"))
def farewell(msg: Inbound, ctx: Context) -> None:
    """Mark the follower gone and stop every pending push (they cannot read a reply)."""
    followers.unsubscribe(ctx.account_id, msg.openid)
    ctx.conv.clear()
