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
from scrm.wechat.inbound import MESSAGE_TYPES, Inbound
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
_generation = [0]  # bumped whenever any router gains a route: indexes built across routers go stale


def generation() -> int:
    """A number that changes whenever a route is registered on any router."""
    return _generation[0]


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
        self._candidates: dict[tuple[str, str, str], tuple[Route, ...]] = {}
        self._by_word: dict[tuple[str, str, str], tuple[tuple[Route, ...], dict[str, tuple[Route, ...]]]] = {}

    def on(self, *filters: Filter, instant: bool = False) -> Callable[[Handler], Handler]:
        """Register a handler; earlier registrations win.

        `instant`: the handler answers from memory (cached content, the conversation, templates) and
        never blocks; it may then run on the request's own thread. Any database or Redis call it makes
        on a cold cache still moves it to the reply budget's thread (scrm.inline), so the flag is safe
        for a handler whose only waits are such calls, and wrong for one that sleeps or calls out.
        """
        def register(fn: Handler) -> Handler:
            self.routes.append(Route(f"{self.name}.{getattr(fn, '__name__', 'handler')}", filters, fn, instant))
            self._candidates.clear()
            self._by_word.clear()
            _generation[0] += 1
            return fn
        return register

    def match(self, msg: Inbound, ctx: Context) -> Route | None:
        """The first route whose filters all accept the push."""
        return first_accepting(self.candidates(msg, ctx.conv.state), msg, ctx)

    def candidates(self, msg: Inbound, state: str) -> tuple[Route, ...]:
        """The routes a push may pass in this conversation state, in order."""
        shape = (msg.msg_type, msg.event, state)
        if shape[0] == "text":
            generic, by_word = self.text_index(shape)
            return by_word.get(normalize(msg.content), generic)
        return self.shape_candidates(shape)

    def shape_candidates(self, shape: tuple[str, str, str]) -> tuple[Route, ...]:
        """The routes whose gates admit a push of this (type, event, state), in order."""
        cached = self._candidates.get(shape)
        return cached if cached is not None else self._candidates_for(shape)

    def text_index(self, shape: tuple[str, str, str]) -> tuple[tuple[Route, ...], dict[str, tuple[Route, ...]]]:
        """A text push's candidates: (for any word, {named word: for that word}) (see `_index_words`)."""
        indexed = self._by_word.get(shape)
        return indexed if indexed is not None else self._index_words(shape)

    def _candidates_for(self, shape: tuple[str, str, str]) -> tuple[Route, ...]:
        """The routes whose filters' gates admit a push of this type, event and state (cached)."""
        routes = tuple(r for r in self.routes
                       if all(getattr(f, "gate", None) is None or f.gate(*shape) for f in r.filters))  # type: ignore[attr-defined]
        if len(self._candidates) < MAX_SHAPES:  # types and events come signed from WeChat, states from code
            self._candidates[shape] = routes
        return routes

    def _index_words(self, shape: tuple[str, str, str]) -> tuple[tuple[Route, ...], dict[str, tuple[Route, ...]]]:
        """A text push's candidates: those any text may reach, and per word those that word may reach too.

        A route with a `text(...)` filter can only pass the words it names, so a text push is asked only
        of the routes open to any text and of those naming its (normalised) words, in their order.
        """
        routes = self._candidates.get(shape) or self._candidates_for(shape)
        restricted = {route: _route_words(route, shape) for route in routes}
        generic = tuple(r for r in routes if restricted[r] is None)
        words = {w for ws in restricted.values() if ws is not None for w in ws}
        by_word = {w: tuple(r for r in routes if restricted[r] is None or w in restricted[r])  # type: ignore[operator]
                   for w in words}
        indexed = (generic, by_word)
        if len(self._by_word) < MAX_SHAPES:
            self._by_word[shape] = indexed
        return indexed


def first_accepting(routes: tuple[Route, ...], msg: Inbound, ctx: Context) -> Route | None:
    """The first of `routes` whose filters all accept the push."""
    # Plain loops: the generators of next() over all() were most of matching's time in a profile.
    for route in routes:
        for accepts in route.filters:
            if not accepts(msg, ctx):
                break
        else:
            return route
    return None


def _route_words(route: Route, shape: tuple[str, str, str]) -> frozenset[str] | None:
    """The normalised words a route can pass (every filter naming words must accept), None for any."""
    words: frozenset[str] | None = None
    for f in route.filters:
        named = _filter_words(f, shape)
        if named is not None:
            words = named if words is None else words & named
    return words


def _filter_words(f: Filter, shape: tuple[str, str, str]) -> frozenset[str] | None:
    """The words `f` can pass for a push of this shape, None for any (any_of: the branches it can reach)."""
    branches: tuple[Filter, ...] | None = getattr(f, "branches", None)
    if branches is None:
        return getattr(f, "words", None)
    reachable = [b for b in branches if getattr(b, "gate", None) is None or b.gate(*shape)]  # type: ignore[attr-defined]
    named = [_filter_words(b, shape) for b in reachable]
    if any(w is None for w in named):
        return None
    return frozenset().union(*named)  # type: ignore[arg-type]


# ---- filters -----------------------------------------------------------------------------------
# Each built-in filter carries a `gate(msg_type, event, state)`: a condition it cannot pass without, so a
# router asks only the routes a push of that shape could reach. A filter without one is always asked.

MAX_SHAPES = 1024
Gate = Callable[[str, str, str], bool]


def _gated(accepts: Filter, gate: Gate) -> Filter:
    accepts.gate = gate  # type: ignore[attr-defined]
    return accepts


def text(*words: str) -> Filter:
    """A text message equal to one of `words` (trimmed, case-insensitive, full-width folded)."""
    wanted = frozenset(normalize(w) for w in words)
    accepts = _gated(lambda m, c: m.msg_type == "text" and normalize(m.content) in wanted, _is_text)
    accepts.words = wanted  # type: ignore[attr-defined]  # what Router indexes text pushes by
    return accepts


def _is_text(t: str, e: str, s: str) -> bool:
    return t == "text"


def any_text() -> Filter:
    """Any text message."""
    return _gated(lambda m, c: m.msg_type == "text", _is_text)


def msg_type(*types: str) -> Filter:
    """A message of one of the given MsgTypes."""
    wanted = frozenset(types)
    return _gated(lambda m, c: m.msg_type in wanted, lambda t, e, s: t in wanted)


def any_message() -> Filter:
    """Any ordinary message (not an event)."""
    return _gated(lambda m, c: m.is_message, lambda t, e, s: t in MESSAGE_TYPES)


def event(*events: str) -> Filter:
    """An event of one of the given (case-insensitive) names."""
    wanted = frozenset(e.lower() for e in events)
    return _gated(lambda m, c: m.msg_type == "event" and m.event in wanted,
                  lambda t, e, s: t == "event" and e in wanted)


def click(*keys: str) -> Filter:
    """A menu CLICK on one of `keys` (any key when none given)."""
    wanted = frozenset(keys)
    return _gated(lambda m, c: m.event == "click" and (not wanted or m.key in wanted), lambda t, e, s: e == "click")


def in_state(*states: State | str) -> Filter:
    """The follower's conversation is in one of `states`."""
    names = frozenset(s.name if isinstance(s, State) else s for s in states)
    return _gated(lambda m, c: c.conv.state in names, lambda t, e, s: s in names)


def in_group(group: type[StateGroup]) -> Filter:
    """The follower's conversation is anywhere in `group`."""
    return _gated(lambda m, c: c.conv.in_group(group), lambda t, e, s: Conversation(state=s).in_group(group))


def no_state() -> Filter:
    """The follower has no active conversation."""
    return _gated(lambda m, c: not c.conv.state, lambda t, e, s: not s)


def negate(f: Filter) -> Filter:
    """The opposite of `f`."""
    return lambda m, c: not f(m, c)


def any_of(*filters: Filter) -> Filter:
    """At least one of `filters` (gated when every one of them is)."""
    accepts: Filter = lambda m, c: any(f(m, c) for f in filters)  # noqa: E731
    accepts.branches = filters  # type: ignore[attr-defined]  # Router reads the words they name
    gates: list[Gate] = [g for g in (getattr(f, "gate", None) for f in filters) if g is not None]
    if len(gates) == len(filters):
        return _gated(accepts, lambda t, e, s: any(g(t, e, s) for g in gates))
    return accepts
