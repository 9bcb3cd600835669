"""Loyalty in chat: 签到 (daily check-in), 积分 (balance, tier, streak, expiring points), 会员中心 links."""

from __future__ import annotations

from handlers.menu import menu_key
from scrm.services import checkin
from scrm.services.loyalty_notify import day_label  # importing it also subscribes the tier-upgrade notice
from scrm.services.loyalty_notify_facts import Figures, figures
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Article, Reply
from scrm.wechat.router import Context, Router

router = Router("loyalty")
CHECKIN_KEY, POINTS_KEY, CENTRE_KEY = "CHECKIN", "MY_POINTS", "MEMBER_CENTRE"


def member_url(ctx: Context) -> str:
    """The member centre H5 page (h5.member), absolute."""
    return ctx.url(f"/h5/{ctx.account.slug}/member")


@menu_key(CHECKIN_KEY, "签到", "每日签到", "check in", "checkin", "check-in")
def check_in(msg: Inbound, ctx: Context) -> Reply:
    """签到: today's points (once a day), the streak and its bonus, the balance and tier."""
    if ctx.follower is None:
        return ctx.render("errors/apology.txt")
    if not ctx.follower.subscribed:
        return ctx.render("loyalty/not_subscribed.txt")
    now = ctx.now()
    result = checkin.check_in(ctx.follower.id, now)
    return ctx.render("loyalty/checkin.txt", r=result, fig=figures(ctx.follower.id, now), member_url=member_url(ctx))


@menu_key(POINTS_KEY, "积分", "我的积分", "查积分", "points", "my points")
def my_points(msg: Inbound, ctx: Context) -> Reply:
    """积分: balance, tier and the way to the next, streak, points expiring soon."""
    if ctx.follower is None:
        return ctx.render("errors/apology.txt")
    fig: Figures = figures(ctx.follower.id, ctx.now())
    expiring_on = day_label(fig.expiring_on, ctx.language) if fig.expiring_on else ""
    return ctx.render("loyalty/points.txt", fig=fig, expiring_on=expiring_on, member_url=member_url(ctx))


@menu_key(CENTRE_KEY, "会员中心", "会员", "member centre", "member center", "membership")
def member_centre(msg: Inbound, ctx: Context) -> Reply:
    """会员中心: a card opening the member centre page."""
    if ctx.follower is None:
        return ctx.render("errors/apology.txt")
    fig = figures(ctx.follower.id, ctx.now())
    return ctx.news(Article(title=ctx.text("loyalty/centre_title.txt"),
                            description=ctx.text("loyalty/centre_description.txt", fig=fig),
                            url=member_url(ctx)))
