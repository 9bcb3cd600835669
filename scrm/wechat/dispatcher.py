"""Steps 3-7 of a push's way (DESIGN.md §4): touch the follower, take the per-follower lock, load the
conversation, ask the routers in order, run the first match, save the conversation, log the answer.

Order of routers: those that come first (cancel/help), then the router owning the active
conversation's state group, then the rest as listed in handlers.ROUTERS.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from scrm import inline, metrics
from scrm.config import AccountSettings, Settings
from scrm.db import utcnow
from scrm.security import mask_openid
from scrm.services import followers, messages
from scrm.services.messages import LogEntry
from scrm.textnorm import normalize
from scrm.wechat import render
from scrm.wechat.conversation import Busy, Conversation, ConversationStore, group_of
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Reply, TextReply, describe
from scrm.wechat.router import MAX_SHAPES, Context, Route, Router, first_accepting, generation

logger = logging.getLogger(__name__)
# (router generation, routes by shape, text index by shape): see Dispatcher.stateless_candidates.
_Index = tuple[int, dict[tuple[str, str, str], tuple[Route, ...]],
               dict[tuple[str, str, str], tuple[tuple[Route, ...], dict[str, tuple[Route, ...]]]]]


@dataclass(frozen=True)
class Outcome:
    """What dispatching a push produced: the reply (None = `success`) and which handler ran."""

    reply: Reply | None
    handler: str = ""
    error: bool = False
    busy: bool = False
    follower_id: int | None = None
    dealer_id: int | None = None


def apology(ctx: Context) -> Reply:
    """The friendly answer when a handler failed; never empty even if the templates are broken."""
    try:
        return ctx.render("errors/apology.txt")
    except Exception:
        logger.exception("the apology template failed")
        _ = render.translator(ctx.language)
        return TextReply(_("Sorry, something went wrong on our side. Please try again in a moment."))


class Dispatcher:
    """Routers in priority order; `first` routers are asked before the active conversation's."""

    def __init__(self, routers: Sequence[Router], first: Sequence[str] = ("common",)) -> None:
        self.routers = list(routers)
        self.first = tuple(first)
        self._split()

    def _split(self) -> None:
        self._head = tuple(r for r in self.routers if r.name in self.first)
        self._rest = tuple(r for r in self.routers if r.name not in self.first)
        self._plain = self._head + self._rest
        self._index: _Index = (-1, {}, {})

    def stateless_candidates(self, msg: Inbound) -> tuple[Route, ...]:
        """Every router's candidates for a push outside any conversation, in order, as one tuple.

        The same routes, in the same order, as asking each of `ordered()`'s routers in turn; cached by
        the push's shape (and a text push's named word) until a route is registered anywhere.
        """
        gen, flat, texts = self._index
        if gen != generation():
            gen, flat, texts = self._index = (generation(), {}, {})
        shape = (msg.msg_type, msg.event, "")
        if shape[0] != "text":
            routes = flat.get(shape)
            if routes is None:
                routes = tuple(route for r in self._plain for route in r.shape_candidates(shape))
                if len(flat) < MAX_SHAPES:
                    flat[shape] = routes
            return routes
        index = texts.get(shape)
        if index is None:
            parts = [r.text_index(shape) for r in self._plain]
            words = {w for _, by_word in parts for w in by_word}
            index = (tuple(route for generic, _ in parts for route in generic),
                     {w: tuple(route for generic, by_word in parts for route in by_word.get(w, generic))
                      for w in words})
            if len(texts) < MAX_SHAPES:
                texts[shape] = index
        return index[1].get(normalize(msg.content), index[0])

    def add(self, router: Router, index: int = 0) -> None:
        """Insert a router (features register theirs in handlers.ROUTERS; tests use this)."""
        self.routers.insert(index, router)
        self._split()

    def remove(self, router: Router) -> None:
        """Take a router out again."""
        self.routers.remove(router)
        self._split()

    def ordered(self, ctx: Context) -> Sequence[Router]:
        """The routers to ask for this push, in order."""
        if not ctx.conv.state:
            return self._plain
        group = group_of(ctx.conv.state)
        owner = next((r for r in self._rest if r.states is not None and r.states.group == group), None)
        if owner is None:
            logger.warning("dropping conversation in unknown state %r", ctx.conv.state)
            ctx.conv.clear()
            return self._plain
        return (*self._head, owner, *(r for r in self._rest if r is not owner))

    def dispatch(self, msg: Inbound, ctx: Context) -> Outcome:
        """Run the first matching handler; any unexpected exception becomes an apology."""
        name = ""
        try:
            if ctx.conv.state:
                route = next((m for m in (r.match(msg, ctx) for r in self.ordered(ctx)) if m is not None), None)
            else:
                route = first_accepting(self.stateless_candidates(msg), msg, ctx)
            if route is not None:
                name = route.name
                if not route.instant:
                    inline.check(f"route {name}")
                return Outcome(reply=route.handler(msg, ctx), handler=name)
        except Exception:
            logger.exception("handler %s failed on msg %s from %s", name or "(matching)", msg.dedupe_id,
                             mask_openid(msg.openid))
            metrics.HANDLER_ERRORS.labels(handler=name or "matching").inc()
            return Outcome(reply=apology(ctx), handler=name, error=True)
        logger.info("no handler for %s/%s from %s", msg.msg_type, msg.event, mask_openid(msg.openid))
        return Outcome(reply=None)


def log_entry(msg: Inbound) -> LogEntry:
    """How the message log keeps this push."""
    if msg.msg_type == "text":
        content = msg.content
    elif msg.is_event:
        content = msg.key or msg.status or msg.scene
    else:
        content = msg.title or msg.label or msg.url or msg.pic_url or msg.media_id
    return LogEntry(msg_type=msg.msg_type, event=msg.event, content=content, msg_id=msg.msg_id)


def process(msg: Inbound, *, account: AccountSettings, account_id: int, settings: Settings,
            store: ConversationStore, dispatcher: Dispatcher) -> Outcome:
    """The whole of steps 3-7 for one push that passed signature, parsing and dedupe."""
    received_at = utcnow()
    follower = followers.touch(
        account_id, msg.openid, kind=msg.interaction_kind, is_message=msg.is_message,
        create=not msg.is_system_event,
        assume_subscribed=msg.event not in ("subscribe", "unsubscribe") and not msg.event.startswith("subscribe_msg"))
    follower_id = follower.id if follower else None

    def context(conv: Conversation) -> Context:
        return Context(account=account, account_id=account_id, follower=follower, conv=conv,
                       language=account.language, public_url=settings.app.public_url)

    if msg.is_system_event:
        # Job reports come from WeChat, not the follower: no lock, no conversation.
        outcome = dispatcher.dispatch(msg, context(Conversation()))
    else:
        try:
            with store.lock(msg.openid):
                conv = store.load(msg.openid)
                outcome = dispatcher.dispatch(msg, context(conv))
                if conv.changed and not outcome.error:
                    store.save(msg.openid, conv)
        except Busy:
            logger.warning("follower %s is busy; answering success to msg %s", mask_openid(msg.openid),
                           msg.dedupe_id)
            outcome = Outcome(reply=None, busy=True)
    reply_type, reply_content = describe(outcome.reply) if outcome.reply is not None else ("", "")
    messages.log_exchange(account_id=account_id, follower_id=follower_id, entry=log_entry(msg), received_at=received_at,
                          reply_type=reply_type, reply_content=reply_content, handler=outcome.handler)
    return Outcome(reply=outcome.reply, handler=outcome.handler, error=outcome.error, busy=outcome.busy,
                   follower_id=follower_id, dealer_id=follower.dealer_id if follower else None)
