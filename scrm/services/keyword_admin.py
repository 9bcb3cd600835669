"""Keyword auto-replies as staff manage them: list, validate, create, edit, enable, delete, preview."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import Dealer, KeywordReply, MatchMode, ReplyKind, StaffUser
from scrm.services import audit, content_cache, reply_template  # noqa: F401  (content_cache: bumps bot caches on commit)
from scrm.services.errors import Forbidden
from scrm.services.paging import Page, paginate
from scrm.services.scope import Perm, Scope
from scrm.services.validation import Problems, is_http_url, utf8_len

PRIORITY_MIN, PRIORITY_MAX = 0, 999


@dataclass(frozen=True)
class KeywordInput:
    """What the form submits (already stripped; `dealer_id` None means account-wide)."""

    keyword: str
    match: str = MatchMode.EXACT.value
    kind: str = ReplyKind.TEXT.value
    text: str = ""
    news_title: str = ""
    news_description: str = ""
    news_url: str = ""
    news_pic_url: str = ""
    priority: int = 0
    dealer_id: int | None = None
    enabled: bool = True


@dataclass(frozen=True)
class KeywordFilter:
    """List filters: free text over keyword and text, a dealer (0 = account-wide), enabled state."""

    q: str = ""
    dealer: int | None = None
    enabled: bool | None = None


def list_keywords(scope: Scope, flt: KeywordFilter, page: int = 1, per_page: int = 50) -> Page[KeywordReply]:
    """Replies visible in scope (dealer roles also see account-wide ones), by dealer, priority, keyword."""
    stmt = scope.apply(sa.select(KeywordReply), KeywordReply, shared=True)
    if flt.q:
        like = f"%{_escape_like(flt.q)}%"
        stmt = stmt.where(sa.or_(KeywordReply.keyword.ilike(like, escape="\\"),
                                 KeywordReply.text.ilike(like, escape="\\"),
                                 KeywordReply.news_title.ilike(like, escape="\\")))
    if flt.dealer == 0:
        stmt = stmt.where(KeywordReply.dealer_id.is_(None))
    elif flt.dealer is not None:
        stmt = stmt.where(KeywordReply.dealer_id == flt.dealer)
    if flt.enabled is not None:
        stmt = stmt.where(KeywordReply.enabled.is_(flt.enabled))
    stmt = stmt.order_by(KeywordReply.dealer_id.is_(None).desc(), KeywordReply.dealer_id,
                         KeywordReply.priority.desc(), KeywordReply.keyword, KeywordReply.id)
    return paginate(db.session(), stmt, page, per_page)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_keyword(scope: Scope, keyword_id: int) -> KeywordReply:
    """One reply readable in scope, else NotFound."""
    return scope.get(db.session(), KeywordReply, keyword_id, shared=True)


def can_edit(scope: Scope, row_dealer_id: int | None) -> bool:
    """True when this scope may write replies of `row_dealer_id` (None: account-wide)."""
    if not scope.can(Perm.KEYWORDS_EDIT):
        return False
    if row_dealer_id is None:
        return scope.can(Perm.KEYWORDS_EDIT_SHARED)
    return scope.dealer_ok(row_dealer_id)


def validate(scope: Scope, data: KeywordInput, exclude_id: int | None = None) -> None:
    """Raise FormInvalid listing every problem with `data`."""
    p = Problems()
    if not 1 <= len(data.keyword) <= 60:
        p.add("keyword", "Keyword: 1 to %(max)s characters.", max=60)
    elif any(ch in data.keyword for ch in "\r\n\t"):
        p.add("keyword", "The keyword must be on one line.")
    if data.match not in {m.value for m in MatchMode}:
        p.add("match", "Choose how the keyword matches.")
    if data.kind not in {k.value for k in ReplyKind}:
        p.add("kind", "Choose a reply type.")
    if not PRIORITY_MIN <= data.priority <= PRIORITY_MAX:
        p.add("priority", "Priority: a whole number from %(min)s to %(max)s.", min=PRIORITY_MIN, max=PRIORITY_MAX)
    if data.kind == ReplyKind.TEXT.value:
        _validate_text(p, data.text)
    elif data.kind == ReplyKind.NEWS.value:
        _validate_news(p, data)
    if data.dealer_id is not None:
        dealer = db.session.get(Dealer, data.dealer_id)
        if dealer is None or dealer.account_id != scope.account_id or not scope.dealer_ok(dealer.id):
            p.add("dealer_id", "Choose one of your dealers.")
    if not p.has("keyword") and _duplicate(scope.account_id, data, exclude_id):
        p.add("keyword", "A reply with this keyword and match mode already exists for this dealer.")
    p.raise_if_any()


def _validate_text(p: Problems, text: str) -> None:
    if not text.strip():
        p.add("text", "Enter the reply text.")
        return
    if utf8_len(text) > reply_template.MAX_BYTES:
        p.add("text", "The reply text is %(size)s bytes; WeChat allows at most %(max)s bytes (about 680 汉字).",
              size=utf8_len(text), max=reply_template.MAX_BYTES)
        return
    problem = reply_template.check(text)
    if problem:
        p.add("text", problem.message, **problem.params)


def _validate_news(p: Problems, data: KeywordInput) -> None:
    if not data.news_title:
        p.add("news_title", "Enter the article title.")
    elif len(data.news_title) > 64:
        p.add("news_title", "Title: at most %(max)s characters.", max=64)
    if len(data.news_description) > 120:
        p.add("news_description", "Description: at most %(max)s characters.", max=120)
    if not data.news_url:
        p.add("news_url", "Enter the link the article opens.")
    elif len(data.news_url) > 1024 or not is_http_url(data.news_url):
        p.add("news_url", "Enter a full link starting with http:// or https://.")
    if data.news_pic_url and (len(data.news_pic_url) > 1024 or not is_http_url(data.news_pic_url)):
        p.add("news_pic_url", "Enter a full link starting with http:// or https://.")


def _duplicate(account_id: int, data: KeywordInput, exclude_id: int | None) -> bool:
    stmt = sa.select(KeywordReply.id).where(
        KeywordReply.account_id == account_id,
        sa.func.lower(KeywordReply.keyword) == data.keyword.lower(),
        KeywordReply.match == MatchMode(data.match) if data.match in set(MatchMode) else sa.false(),
        KeywordReply.dealer_id.is_(None) if data.dealer_id is None else KeywordReply.dealer_id == data.dealer_id)
    if exclude_id is not None:
        stmt = stmt.where(KeywordReply.id != exclude_id)
    return db.session.scalar(stmt.limit(1)) is not None


def _values(data: KeywordInput) -> dict[str, Any]:
    values = asdict(data)
    values["match"] = MatchMode(data.match)
    values["kind"] = ReplyKind(data.kind)
    if data.kind == ReplyKind.NEWS.value:
        values["text"] = ""
    else:
        values.update(news_title="", news_description="", news_url="", news_pic_url="")
    return values


def create_keyword(actor: StaffUser, data: KeywordInput, ip: str = "") -> KeywordReply:
    """Create a reply after checking permission and every field."""
    scope = Scope.of(actor)
    if not can_edit(scope, data.dealer_id):
        raise Forbidden()
    validate(scope, data)
    with db.transaction() as s:
        row = KeywordReply(account_id=scope.account_id, updated_by=actor.id, **_values(data))
        s.add(row)
        s.flush()
        audit.record(s, staff=actor, action="keyword.create", target_type="keyword", target_id=row.id,
                     detail={"keyword": row.keyword, "match": data.match, "kind": data.kind}, ip=ip,
                     dealer_id=row.dealer_id)
    return row


def _editable(actor: StaffUser, keyword_id: int) -> tuple[Scope, KeywordReply]:
    scope = Scope.of(actor)
    row = get_keyword(scope, keyword_id)
    if not can_edit(scope, row.dealer_id):
        raise Forbidden()
    return scope, row


def update_keyword(actor: StaffUser, keyword_id: int, data: KeywordInput, ip: str = "") -> KeywordReply:
    """Edit a reply; the audit row lists what changed."""
    scope, row = _editable(actor, keyword_id)
    if not can_edit(scope, data.dealer_id):
        raise Forbidden()
    validate(scope, data, exclude_id=row.id)
    values = _values(data)
    with db.transaction() as s:
        changes = {k: [_plain(getattr(row, k)), _plain(v)] for k, v in values.items() if getattr(row, k) != v}
        for key, value in values.items():
            setattr(row, key, value)
        row.updated_by = actor.id
        audit.record(s, staff=actor, action="keyword.update", target_type="keyword", target_id=row.id,
                     detail={"keyword": row.keyword, "changes": changes}, ip=ip, dealer_id=row.dealer_id)
    return row


def _plain(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value


def set_enabled(actor: StaffUser, keyword_id: int, enabled: bool, ip: str = "") -> KeywordReply:
    """Switch a reply on or off."""
    _, row = _editable(actor, keyword_id)
    with db.transaction() as s:
        if row.enabled != enabled:
            row.enabled = enabled
            row.updated_by = actor.id
            audit.record(s, staff=actor, action="keyword.enable" if enabled else "keyword.disable",
                         target_type="keyword", target_id=row.id, detail={"keyword": row.keyword}, ip=ip,
                         dealer_id=row.dealer_id)
    return row


def delete_keyword(actor: StaffUser, keyword_id: int, ip: str = "") -> None:
    """Delete a reply; the audit row keeps what it said."""
    _, row = _editable(actor, keyword_id)
    with db.transaction() as s:
        audit.record(s, staff=actor, action="keyword.delete", target_type="keyword", target_id=row.id,
                     detail={"keyword": row.keyword, "match": _plain(row.match), "kind": _plain(row.kind),
                             "text": row.text, "news_title": row.news_title}, ip=ip, dealer_id=row.dealer_id)
        s.delete(row)


@dataclass(frozen=True)
class Preview:
    """How a reply renders on the phone; `error` is a msgid when it cannot."""

    kind: str
    text: str = ""
    title: str = ""
    description: str = ""
    url: str = ""
    pic_url: str = ""
    error: str = ""
    error_params: dict[str, object] | None = None
    too_long: bool = False


def preview(scope: Scope, data: KeywordInput) -> Preview:
    """Render `data` as the follower would see it, with the chosen (or a sample) dealer and now."""
    if data.kind == ReplyKind.NEWS.value:
        return Preview(kind="news", title=data.news_title, description=data.news_description,
                       url=data.news_url, pic_url=data.news_pic_url)
    dealer = None
    if data.dealer_id is not None:
        candidate = db.session.get(Dealer, data.dealer_id)
        dealer = candidate if candidate is not None and scope.allows(candidate) else None
    problem = reply_template.check(data.text) if data.text.strip() else None
    if problem:
        return Preview(kind="text", text=data.text, error=problem.message, error_params=problem.params)
    now = db.utcnow().astimezone(runtime.get().settings.app.tz)
    text = reply_template.render(data.text, dealer=reply_template.dealer_context(dealer), now=now)
    return Preview(kind="text", text=text, too_long=utf8_len(text) > reply_template.MAX_BYTES)


def dealer_choices(scope: Scope) -> list[Dealer]:
    """Dealers in scope, by code (for selects and filters)."""
    return list(db.session.scalars(scope.apply(sa.select(Dealer), Dealer).order_by(Dealer.code)))
