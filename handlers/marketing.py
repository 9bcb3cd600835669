"""退订 / 恢复推送: the follower turns marketing messages (campaigns, journeys) off or back on from the chat.

Only plain text outside any conversation, so a word typed mid-booking is left to that conversation.
Booking, points and event notices keep arriving either way; the H5 preferences page does the same.
"""

from __future__ import annotations

from scrm.services import opt_out
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Reply
from scrm.wechat.router import Context, Router, no_state, text

OPT_OUT_WORDS = ("退订", "TD", "取消推送", "unsubscribe", "stop")
OPT_IN_WORDS = ("恢复推送", "订阅推送", "resume")

router = Router("marketing")


def _known(msg: Inbound, ctx: Context) -> bool:
    return ctx.follower is not None


def _preferences_url(ctx: Context) -> str:
    return ctx.url(f"/h5/{ctx.account.slug}/preferences")


@router.on(no_state(), _known, text(*OPT_OUT_WORDS))
def stop_marketing(msg: Inbound, ctx: Context) -> Reply:
    """Opt out (cancelling waiting marketing rows) and say what still arrives and how to resume."""
    assert ctx.follower is not None
    done = opt_out.opt_out(ctx.follower.id, source="chat")
    return ctx.render("marketing/opted_out.txt", changed=done.changed, url=_preferences_url(ctx))


@router.on(no_state(), _known, text(*OPT_IN_WORDS))
def resume_marketing(msg: Inbound, ctx: Context) -> Reply:
    """Opt back in and confirm."""
    assert ctx.follower is not None
    done = opt_out.opt_in(ctx.follower.id, source="chat")
    return ctx.render("marketing/opted_in.txt", changed=done.changed, url=_preferences_url(ctx))
