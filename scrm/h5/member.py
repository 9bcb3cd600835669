"""The member centre: balance, tier progress, streak and check-in, points history, badges."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l

from scrm.h5 import bp
from scrm.h5.booking_common import Fmt, Page, Visitor, visitor
from scrm.h5.links import register_link
from scrm.services import checkin, member_centre
from scrm.services.paging import clamp_page

register_link("h5.member", _l("Member centre"), icon="会", order=10)

# Pages other helpers build; linked only when their endpoint exists.
MORE = [("h5.rewards", _l("Rewards"), "礼"), ("h5.vouchers", _l("My vouchers"), "券"),
        ("h5.events", _l("Owners' events"), "聚"), ("h5.referral", _l("Invite friends"), "邀"),
        ("h5.leaderboard", _l("Leaderboard"), "榜")]
_RESULT = "h5_checkin"


def _more(slug: str) -> list[tuple[str, str, str]]:
    """(url, label, icon) of the loyalty pages that exist in this app."""
    views = current_app.view_functions
    return [(url_for(endpoint, slug=slug), str(label), icon) for endpoint, label, icon in MORE if endpoint in views]


def _result_text(result: dict[str, int] | None) -> str:
    """The check-in outcome kept for the page after the redirect."""
    if not result:
        return ""
    if result.get("already"):
        return gettext("You have already checked in today. Come back tomorrow!")
    text = ngettext("Checked in! +%(points)s points, %(num)s day in a row.",
                    "Checked in! +%(points)s points, %(num)s days in a row.", result.get("streak", 1),
                    points=result.get("points", 0))
    if result.get("bonus"):
        text += " " + gettext("Streak bonus: +%(bonus)s points.", bonus=result["bonus"])
    return text


@bp.get("/<slug>/member")
def member(slug: str) -> Page:
    """The follower's member centre."""
    v = visitor(slug)
    if not isinstance(v, Visitor):
        return v
    results = dict(session.get(_RESULT, {}))
    result = results.pop(slug, None)
    if result is not None:
        session[_RESULT] = results
    view = member_centre.overview(v.follower.id, clamp_page(request.args.get("page")))
    return render_template("h5/member/centre.html", account=v.account, m=view, fmt=Fmt(), more=_more(slug),
                           result=_result_text(result), already=bool(result and result.get("already")),
                           reason_label=member_centre.reason_label)


@bp.post("/<slug>/member/checkin")
def member_checkin(slug: str) -> Page:
    """签到 for today; the outcome is shown on the member centre (a second tap says it is already done)."""
    v = visitor(slug)
    if not isinstance(v, Visitor):
        return v
    done = checkin.check_in(v.follower.id)
    results = dict(session.get(_RESULT, {}))
    results[slug] = {"already": int(done.already), "points": done.points, "bonus": done.bonus,
                     "streak": done.streak}
    session[_RESULT] = results
    return redirect(url_for("h5.member", slug=slug) + "#checkin")
