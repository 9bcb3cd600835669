"""Staff link their own WeChat for test sends: "绑定员工 123456" (or "staff 123456") with the admin page's code."""

from __future__ import annotations

import re

from scrm.services import staff_wechat
from scrm.textnorm import normalize
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Reply
from scrm.wechat.router import Context, Router, text

WORDS = ("绑定员工", "staff")
_CODE = re.compile(r"^(?:绑定员工|staff)\s*[:：]?\s*(\d{6})$")

router = Router("staff_link")


def code_of(content: str) -> str | None:
    """The 6-digit code of a linking message, else None."""
    m = _CODE.match(normalize(content))
    return m.group(1) if m else None


@router.on(lambda m, c: m.msg_type == "text" and code_of(m.content) is not None)
def link(msg: Inbound, ctx: Context) -> Reply:
    """Redeem the code: this WeChat receives the staff member's test sends from now on."""
    code = code_of(msg.content) or ""
    if ctx.follower is None:
        return ctx.render("staff_link/wrong_code.txt", tries_left=0)
    try:
        name = staff_wechat.redeem(account_id=ctx.account_id, follower_id=ctx.follower.id, code=code)
    except staff_wechat.TooManyTries:
        return ctx.render("staff_link/locked.txt")
    except staff_wechat.WrongCode as exc:
        return ctx.render("staff_link/wrong_code.txt", tries_left=exc.params.get("tries_left", 0))
    return ctx.render("staff_link/linked.txt", staff_name=name)


@router.on(text("绑定员工"))
def how_to(msg: Inbound, ctx: Context) -> Reply:
    """The word without a code: say where the code comes from."""
    return ctx.render("staff_link/how.txt")
