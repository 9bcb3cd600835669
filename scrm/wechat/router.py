"""Routers, filters and the handler context: matching a push is separate from running a handler.

A feature module builds `router = Router("booking", states=Booking)` and registers handlers with
`@router.on(filter, ...)`; the first route whose filters all pass is the one that runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from scrm.config import AccountSettings
from scrm.db import utcnow
from scrm.textnorm import normalize
from scrm.wechat import render
from scrm.wechat.conversation import Conversation, State, StateGroup
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Article, NewsReply, Reply, TextReply

if TYPE_CHECKING:
    from scrm.services.followers import FollowerRef


@dataclass
class Context:
    """What a handler may use besides the push: account, follower, conversation, wording."""

    account: AccountSettings
    account_id: int
    follower: FollowerRef | None
    conv: Conversation
    language: str
    public_url: str = ""
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def dealer_id(self) -> int | None:
        """The follower's dealer, if any."""
        return self.follower.dealer_id if self.follower else None

    def now(self) -> datetime:
        """The current time (aware UTC)."""
        return utcnow()

    def text(self, template: str, **values: Any) -> str:
        """The text of a reply template in the follower's language."""
        return render.render(self.language, template, account=self.account, **values)

    def render(self, template: str, **values: Any) -> TextReply:
        """A text reply rendered from templates/replies/`template`."""
        return TextReply(self.text(template, **values))

    def news(self, *articles: Article) -> NewsReply:
        """A news reply of the given cards."""
        return NewsReply(tuple(articles))

    def url(self, path: str) -> str:
        """An absolute URL of one of our pages (H5 links in replies)."""
        return self.public_url.rstrip("/") + path


Handler = Callable[[Inbound, Context], Reply | None]
Filter = Callable[[Inbound, Context], bool]


@dataclass(frozen=True)
class Route:
    """A handler and the filters that must all pass."""

    name: str
    filters: tuple[Filter, ...]
    handler: Handler
    instant: bool = False  # answers from memory: may run inline on the request's thread (scrm.inline)


class Router:
    """An ordered list of routes of one feature; `states` names the conversation it owns."""

    def __init__(self, name: str, *, states: type[StateGroup] | None = None) -> None:
        self.name = name
        self.states = states
        self.routes: list[Route] = []

    def on(self, *filters: Filter, instant: bool = False) -> Callable[[Handler], Handler]:
        """Register a handler; earlier registrations win.

        `instant`: the handler answers from memory (cached content, the conversation, templates) and
        never blocks; it may then run on the request's own thread. Any database or Redis call it makes
        on a cold cache still moves it to the reply budget's thread (scrm.inline), so the flag is safe
        for a handler whose only waits are such calls, and wrong for one that sleeps or calls out.
        """
        def register(fn: Handler) -> Handler:
            self.routes.append(Route(f"{self.name}.{getattr(fn, '__name__', 'handler')}", filters, fn, instant))
            return fn
        return register

    def match(self, msg: Inbound, ctx: Context) -> Route | None:
        """The first route whose filters all accept the push."""
        # Plain loops: a generator per route (next() over all()) cost a push about 10 % of its CPU.
        for route in self.routes:
            for accepts in route.filters:
                if not accepts(msg, ctx):
                    break
            else:
                return route
        return None


# ---- filters -----------------------------------------------------------------------------------

def text(*words: str) -> Filter:
    """A text message equal to one of `words` (trimmed, case-insensitive, full-width folded)."""
    wanted = frozenset(normalize(w) for w in words)
    return lambda m, c: m.msg_type == "text" and normalize(m.content) in wanted


def any_text() -> Filter:
    """Any text message."""
    return lambda m, c: m.msg_type == "text"


def msg_type(*types: str) -> Filter:
    """A message of one of the given MsgTypes."""
    wanted = frozenset(types)
    return lambda m, c: m.msg_type in wanted


def any_message() -> Filter:
    """Any ordinary message (not an event)."""
    return lambda m, c: m.is_message


def event(*events: str) -> Filter:
    """An event of one of the given (case-insensitive) names."""
    wanted = frozenset(e.lower() for e in events)
    return lambda m, c: m.msg_type == "event" and m.event in wanted


def click(*keys: str) -> Filter:
    """A menu CLICK on one of `keys` (any key when none given)."""
    wanted = frozenset(keys)
    return lambda m, c: m.event == "click" and (not wanted or m.key in wanted)


def in_state(*states: State | str) -> Filter:
    """The follower's conversation is in one of `states`."""
    names = frozenset(s.name if isinstance(s, State) else s for s in states)
    return lambda m, c: c.conv.state in names


def in_group(group: type[StateGroup]) -> Filter:
    """The follower's conversation is anywhere in `group`."""
    return lambda m, c: c.conv.in_group(group)


def no_state() -> Filter:
    """The follower has no active conversation."""
    return lambda m, c: not c.conv.state


def negate(f: Filter) -> Filter:
    """The opposite of `f`."""
    return lambda m, c: not f(m, c)


def any_of(*filters: Filter) -> Filter:
    """At least one of `filters`."""
    return lambda m, c: any(f(m, c) for f in filters)
