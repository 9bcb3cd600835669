"""Global commands that work in any state: cancel ("取消", "cancel", "退出") and help ("帮助", "help", "?")."""

from __future__ import annotations

from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Reply
from scrm.wechat.router import Context, Router, text

CANCEL_WORDS = ("取消", "cancel", "退出")
HELP_WORDS = ("帮助", "help", "?")

router = Router("common")


@router.on(text(*CANCEL_WORDS), instant=True)
def cancel(msg: Inbound, ctx: Context) -> Reply:
    """End whatever conversation is active."""
    had_conversation = bool(ctx.conv.state)
    ctx.conv.clear()
    return ctx.render("common/cancelled.txt", had_conversation=had_conversation)


@router.on(text(*HELP_WORDS), instant=True)
def show_help(msg: Inbound, ctx: Context) -> Reply:
    """What the account can do, with the menu's items as text commands."""
    from handlers.menu import typed_button_names

    return ctx.render("common/help.txt", buttons=typed_button_names(ctx))
