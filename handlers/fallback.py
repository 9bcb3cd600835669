"""The last router: a message (or a menu click) nobody else answered gets a pointer to the menu and help."""

from __future__ import annotations

from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Reply
from scrm.wechat.router import Context, Router, any_message, any_of, event

router = Router("fallback")


@router.on(any_of(any_message(), event("click")), instant=True)
def not_understood(msg: Inbound, ctx: Context) -> Reply:
    """Offer the menu and the help word."""
    return ctx.render("fallback/not_understood.txt", is_text=msg.msg_type == "text")
