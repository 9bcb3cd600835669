"""Keyword auto-replies written by staff: text (a sandboxed template) or a news card."""

from __future__ import annotations

from scrm.models import ReplyKind
from scrm.services import dealer_cards, keywords
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Article, Reply, TextReply
from scrm.wechat.router import Context, Router

router = Router("keywords")
_MAX_LOOKUP_CHARS = 500


def _matches(msg: Inbound, ctx: Context) -> bool:
    """A text message, or a click whose key equals a keyword, that some enabled reply answers."""
    if msg.msg_type == "text" and len(msg.content) <= _MAX_LOOKUP_CHARS:
        reply_id = keywords.find_id(ctx.account_id, ctx.dealer_id, msg.content)
    elif msg.event == "click" and msg.key:
        reply_id = keywords.find_id(ctx.account_id, ctx.dealer_id, msg.key, exact_only=True)
    else:
        return False
    ctx.extras["keyword_id"] = reply_id
    return reply_id is not None


@router.on(_matches, instant=True)
def auto_reply(msg: Inbound, ctx: Context) -> Reply:
    """Answer with the matched reply and count the hit."""
    row = keywords.use(ctx.extras["keyword_id"])
    if row is None:  # deleted by staff between matching and now
        return ctx.render("fallback/not_understood.txt", is_text=msg.msg_type == "text")
    if row.kind == ReplyKind.NEWS:
        return ctx.news(Article(title=row.news_title, description=row.news_description, url=row.news_url,
                                pic_url=row.news_pic_url))
    if keywords.uses_dealer(row.text) and dealer_cards.dealer_card(ctx.dealer_id) is None:
        # Text built on the follower's dealer, for someone who has none (or whose dealer closed): filled
        # in with the account's only dealer, else the list of its dealers, never blanks where a phone goes.
        dealers = dealer_cards.active_dealers(ctx.account_id)
        if len(dealers) == 1:
            return TextReply(keywords.render_text(row.text, dealers[0]))
        if dealers:
            return ctx.render("dealer/list.txt", dealers=dealers)
    return TextReply(keywords.reply_text(row, ctx.dealer_id))
