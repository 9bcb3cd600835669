"""Referrals in chat: 推荐 / 邀请好友 shows the member's personal QR code; friends following through it."""

from __future__ import annotations

from typing import Any

from handlers.menu import menu_key
from handlers.subscribe import scene_hook
from scrm.services import referrals
from scrm.services.followers import SubscribeResult
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Reply, TextReply
from scrm.wechat.router import Context, Router

router = Router("referral")
MENU_KEY = "REFERRAL"


def referral_url(ctx: Context) -> str:
    """The member's referral H5 page (h5.referral), absolute."""
    return ctx.url(f"/h5/{ctx.account.slug}/referral")


@menu_key(MENU_KEY, "邀请好友", "推荐", "推荐好友", "邀请", "invite friends", "invite a friend", "refer a friend",
          "referral")
def invite(msg: Inbound, ctx: Context) -> Reply:
    """邀请好友: a short text with the link to the page showing the member's personal QR code."""
    if ctx.follower is None:
        return ctx.render("errors/apology.txt")
    if not ctx.follower.subscribed:
        return ctx.render("referral/not_subscribed.txt")
    return ctx.render("referral/invite.txt", url=referral_url(ctx))


@scene_hook("referral")
def followed_through_code(msg: Inbound, ctx: Context, result: Any, reply: Reply, followed: bool) -> Reply | None:
    """A first follow through a member's code: record the referral and greet the friend naming the inviter."""
    if not followed or not isinstance(result, SubscribeResult) or result.scene.referrer_id is None:
        return None
    invited = referrals.record_follow(result.scene.referrer_id, result.follower_id,
                                      first_follow=not result.returning)
    if invited.referral_id is None or not isinstance(reply, TextReply):
        return None
    greeting = ctx.text("referral/invited.txt", inviter=invited.inviter, url=referral_url(ctx))
    return TextReply(f"{reply.content}\n\n{greeting}")
