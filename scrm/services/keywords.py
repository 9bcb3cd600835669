"""Keyword auto-replies: matching and rendering (staff edit them in the admin; CRUD lives there).

Order: the follower's dealer's rows before account-wide rows; exact-match rows before contains
rows (both compare trimmed, case-folded, full-width-folded text); then higher priority; then the
older row. A menu key (exact_only) matches a row of either mode whose keyword equals it.
Staff-written text is a sandboxed Jinja template with only `dealer` (name, phone, address, city)
and `now`; a template that fails to compile or render falls back to the raw text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import sqlalchemy as sa
from jinja2 import Template, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment

from scrm import db, runtime
from scrm.db import utcnow
from scrm.models import KeywordReply, MatchMode, ReplyKind
from scrm.services import content_cache, reply_template, writebehind
from scrm.services.content_cache import Versioned
from scrm.services.dealer_cards import DealerCard, dealer_card
from scrm.textnorm import normalize

logger = logging.getLogger(__name__)
_SAFE_FILTERS = ("default", "d", "upper", "lower", "title", "capitalize", "trim", "truncate", "length",
                 "count", "first", "last", "join", "string", "int", "round", "abs", "replace", "striptags")
_sandbox = SandboxedEnvironment(autoescape=False)
_sandbox.globals.clear()  # no range(), namespace(), dict(): nothing to build large data with
_sandbox.filters = {name: _sandbox.filters[name] for name in _SAFE_FILTERS}


@dataclass(frozen=True)
class DealerVars:
    """The `dealer` variable of a keyword template."""

    name: str = ""
    phone: str = ""
    address: str = ""
    city: str = ""


_KW: sa.Table = KeywordReply.__table__  # type: ignore[assignment]
_ENABLED = sa.select(_KW.c.id, _KW.c.dealer_id, _KW.c.keyword, _KW.c.match, _KW.c.priority, _KW.c.kind, _KW.c.text,
                     _KW.c.news_title, _KW.c.news_description, _KW.c.news_url, _KW.c.news_pic_url).where(
    _KW.c.account_id == sa.bindparam("account_id"), _KW.c.enabled.is_(True))


@dataclass(frozen=True)
class KeywordAnswer:
    """What the bot needs of a matched reply."""

    id: int
    kind: ReplyKind
    text: str
    news_title: str
    news_description: str
    news_url: str
    news_pic_url: str


@dataclass(frozen=True)
class _Candidate:
    id: int
    dealer_id: int | None
    norm: str
    priority: int


@dataclass(frozen=True)
class KeywordSet:
    """An account's enabled replies, keywords normalised once: exact rows by keyword, contains rows."""

    exact: dict[str, tuple[_Candidate, ...]]
    contains: tuple[_Candidate, ...]
    answers: dict[int, KeywordAnswer]


def _load(account_id: int) -> KeywordSet:
    exact: dict[str, list[_Candidate]] = {}
    contains: list[_Candidate] = []
    answers: dict[int, KeywordAnswer] = {}
    with db.transaction() as s:
        rows = s.execute(_ENABLED, {"account_id": account_id}).all()
    for row in rows:
        norm = normalize(row.keyword)
        if not norm:
            continue
        cand = _Candidate(row.id, row.dealer_id, norm, row.priority)
        if row.match == MatchMode.EXACT:
            exact.setdefault(norm, []).append(cand)
        else:
            contains.append(cand)
        answers[row.id] = KeywordAnswer(row.id, row.kind, row.text, row.news_title, row.news_description,
                                        row.news_url, row.news_pic_url)
        if row.kind == ReplyKind.TEXT and "{" in row.text:
            _compiled(row.text)  # compile staff templates once, at load time
    return KeywordSet({k: tuple(v) for k, v in exact.items()}, tuple(contains), answers)


_sets: Versioned[int, KeywordSet] = Versioned(content_cache.KEYWORDS, _load)


def keyword_set(account_id: int) -> KeywordSet:
    """The account's enabled replies, current as of this push (reloaded after any edit)."""
    return _sets.get(account_id)


def find_id(account_id: int, dealer_id: int | None, text: str, *, exact_only: bool = False) -> int | None:
    """The id of the reply that answers `text` (a read: no hit counted, nothing committed).

    Rank (smaller wins): the follower's dealer's rows first, exact rows before contains rows, then
    higher priority, then the older row.
    """
    norm = normalize(text)
    if not norm:
        return None
    ks = keyword_set(account_id)
    best: tuple[int, int, int, int] | None = None
    for c in ks.exact.get(norm, ()):
        if c.dealer_id is None or c.dealer_id == dealer_id:
            rank = (0 if c.dealer_id is not None else 1, 0, -c.priority, c.id)
            best = rank if best is None or rank < best else best
    for c in ks.contains:
        if (c.dealer_id is None or c.dealer_id == dealer_id) and (c.norm == norm if exact_only else c.norm in norm):
            rank = (0 if c.dealer_id is not None else 1, 1, -c.priority, c.id)
            best = rank if best is None or rank < best else best
    return best[3] if best is not None else None


def find(account_id: int, dealer_id: int | None, text: str, *, exact_only: bool = False) -> KeywordReply | None:
    """The reply that answers `text`, without counting a hit."""
    reply_id = find_id(account_id, dealer_id, text, exact_only=exact_only)
    if reply_id is None:
        return None
    with db.transaction() as s:
        return s.get(KeywordReply, reply_id)


_ANSWER = sa.select(_KW.c.account_id, _KW.c.id, _KW.c.kind, _KW.c.text, _KW.c.news_title, _KW.c.news_description,
                    _KW.c.news_url, _KW.c.news_pic_url).where(_KW.c.id == sa.bindparam("reply_id"))


def use(reply_id: int) -> KeywordAnswer | None:
    """Count one use of a reply and return what to answer (None if it was deleted meanwhile).

    The answer comes from the account's cached set; the hit is counted through the write-behind.
    """
    for account_id in _sets.scopes():
        loaded = _sets.loaded(account_id)
        if loaded is not None and reply_id in loaded.answers:
            ks = _sets.peek(account_id)  # still current? (the token was read with this push)
            if ks is not None and reply_id in ks.answers:
                writebehind.count_hit(account_id, reply_id)
                return ks.answers[reply_id]
            break
    with db.transaction() as s:
        row = s.execute(_ANSWER, {"reply_id": reply_id}).first()
    if row is None:
        return None
    writebehind.count_hit(row.account_id, reply_id)
    return KeywordAnswer(*row[1:])


def record_hit(reply_id: int) -> None:
    """Count one use of a reply."""
    use(reply_id)


def match(account_id: int, dealer_id: int | None, text: str) -> KeywordReply | None:
    """The reply that answers `text` (exact before contains), counting the hit."""
    reply_id = find_id(account_id, dealer_id, text)
    if reply_id is None:
        return None
    with db.transaction() as s:
        return s.scalars(sa.update(KeywordReply).where(KeywordReply.id == reply_id)
                         .values(hits=KeywordReply.hits + 1).returning(KeywordReply)).first()


def reply_text(row: KeywordAnswer | KeywordReply, dealer_id: int | None) -> str:
    """The text of a text reply for a follower of `dealer_id` (the dealer is read only if used)."""
    dealer = dealer_card(dealer_id) if uses_dealer(row.text) else None
    return render_text(row.text, dealer)


@lru_cache(maxsize=512)
def uses_dealer(source: str) -> bool:
    """Whether staff text is a template that reads the `dealer` variable (raw text never does)."""
    if "dealer" not in source or _compiled(source) is None:
        return False
    try:
        return "dealer" in meta.find_undeclared_variables(_sandbox.parse(source))
    except TemplateError:
        return False


@lru_cache(maxsize=512)
def _compiled(source: str) -> Template | None:
    # One rule for staff texts: what the admin accepts (reply_template.check: a whitelist of template
    # nodes, names and filters, so nothing can run long or allocate much) is what the bot renders.
    if reply_template.check(source) is not None:
        return None
    try:
        return _sandbox.from_string(source)
    except TemplateError:
        return None


def render_text(source: str, dealer: DealerCard | None, now: datetime | None = None) -> str:
    """Render staff-written reply text; on any template problem return the raw text."""
    if "{" not in source:
        return source  # nothing to render: the common case costs nothing
    template = _compiled(source)
    if template is None:
        logger.warning("keyword reply is not a valid template; sending it as written")
        return source
    moment = (now or utcnow()).astimezone(runtime.get().settings.app.tz)
    values = DealerVars(dealer.name, dealer.phone, dealer.address, dealer.city) if dealer else DealerVars()
    try:
        return template.render(dealer=values, now=moment)
    except Exception:  # staff text must never break the bot: SecurityError, TypeError, ...
        logger.warning("keyword reply failed to render; sending it as written", exc_info=True)
        return source
