"""The answer to the post-visit satisfaction question: a bare 1-5 after a completed, unrated visit.

Only when no conversation is active and the follower was asked (see booking_notify_rating.pending); other
digits go on untouched to the routers after this one (a menu choice, a keyword).
"""

from __future__ import annotations

from scrm.services import booking_notify_rating as rating
from scrm.services.errors import DomainError
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Reply
from scrm.wechat.router import Context, Router, no_state

router = Router("satisfaction")
MAX_SCORE_LIKE = 10  # 0 and 6-10 from someone who was asked are a misread scale: ask again


def _asked(msg: Inbound, ctx: Context) -> bool:
    """A bare number from a follower with a satisfaction question waiting for an answer."""
    if msg.msg_type != "text" or ctx.follower is None or len(msg.content) > 12:
        return False
    score = rating.parse_score(msg.content)
    if score is None or score > MAX_SCORE_LIKE:
        return False
    booking_id = rating.pending(ctx.follower.id, ctx.now())
    if booking_id is None:
        return False
    ctx.extras["rating"] = (booking_id, score)
    return True


@router.on(no_state(), _asked)
def answer(msg: Inbound, ctx: Context) -> Reply:
    """Record the score and thank them (or ask again for 1-5)."""
    assert ctx.follower is not None
    booking_id, score = ctx.extras["rating"]
    if not 1 <= score <= 5:
        return ctx.render("satisfaction/out_of_range.txt")
    try:
        rated = rating.answer(ctx.follower.id, booking_id, score, ctx.now())
    except DomainError:
        return ctx.render("satisfaction/failed.txt")
    return ctx.render("satisfaction/thanks.txt", score=rated.score, dealer_name=rated.dealer)
