"""The follower's message preferences: marketing messages (offers, care tips) on or off."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from scrm.h5 import bp
from scrm.h5.booking_common import Page, Visitor, visitor
from scrm.h5.links import register_link
from scrm.services import opt_out

register_link("h5.preferences", _l("Message preferences"), icon="讯", order=90)
DONE = ("on", "off")


@bp.get("/<slug>/preferences")
def preferences(slug: str) -> Page:
    """Whether offers and care tips reach the follower, with a switch."""
    v = visitor(slug, must_follow=False)
    if not isinstance(v, Visitor):
        return v
    done = request.args.get("done", "")
    return render_template("h5/preferences.html", account=v.account,
                           marketing_on=not opt_out.is_opted_out(v.follower.id),
                           done=done if done in DONE else "")


@bp.post("/<slug>/preferences")
def preferences_save(slug: str) -> Page:
    """Turn marketing messages on or off (the same service as 退订 / 恢复推送 in the chat)."""
    v = visitor(slug, must_follow=False)
    if not isinstance(v, Visitor):
        return v
    wanted = request.form.get("marketing", "")
    if wanted not in DONE:
        return redirect(url_for("h5.preferences", slug=slug), 303)
    if wanted == "on":
        opt_out.opt_in(v.follower.id, source="h5")
    else:
        opt_out.opt_out(v.follower.id, source="h5")
    return redirect(url_for("h5.preferences", slug=slug, done=wanted), 303)
