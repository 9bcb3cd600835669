"""Binding to a customer record in chat: 绑定 -> (dealer) -> mobile -> plate or VIN last 6 -> consent -> bound.

A mobile with no record becomes a lead (after consent); a one-time QR scan (handlers.subscribe hands
it over through `start_from_code`) goes straight to the consent question. 解绑 unbinds after a
confirmation. "取消" (handlers.common) ends any step; an expired conversation simply starts over.
"""

from __future__ import annotations

from typing import Any

from handlers.menu import menu_key
from scrm import runtime
from scrm.models import BindMethod
from scrm.services import binding, binding_codes, binding_verify, dealer_cards
from scrm.services.binding import AlreadyBound, BindingError
from scrm.services.binding_codes import CodeInfo, CodeInvalid
from scrm.services.binding_verify import BadMobile, LockedOut, TooManyLookups
from scrm.wechat.conversation import State, StateGroup
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Reply
from scrm.wechat.router import Context, Router, any_message, any_of, click, in_state, msg_type, text

START_WORDS = ("绑定", "绑定车主", "bind")
UNBIND_WORDS = ("解绑", "解除绑定", "unbind")
AGREE_WORDS = ("同意", "agree", "yes", "是")
REFUSE_WORDS = ("不同意", "拒绝", "disagree", "no", "否")
CONFIRM_WORDS = ("确认", "确认解绑", "confirm", "yes", "是")
MENU_KEY = "BIND_CUSTOMER"
LIST_SIZE = 10  # dealers listed by number; beyond that the follower types a city or a name


class Binding(StateGroup, group="binding"):
    choose_dealer = State()
    mobile = State()
    verify = State()
    consent = State()
    unbind_confirm = State()


router = Router("binding", states=Binding)


def _dealer_card(dealer_id: int | None) -> dealer_cards.DealerCard | None:
    return dealer_cards.dealer_card(dealer_id)


def _locked(ctx: Context, exc: LockedOut, dealer_id: int | None) -> Reply:
    ctx.conv.clear()
    until = exc.until.astimezone(runtime.get().settings.app.tz).strftime("%m-%d %H:%M")
    return ctx.render("binding/locked.txt", until=until, dealer=_dealer_card(dealer_id))


def _ask_consent(ctx: Context, dealer_id: int, intro: str = "", **data: Any) -> Reply:
    dealer = _dealer_card(dealer_id)
    wording = ctx.text("binding/consent.txt", dealer=dealer)
    ctx.conv.enter(Binding.consent, dealer_id=dealer_id, consent=wording, **data)
    return ctx.render("binding/ask_consent.txt", consent=wording, intro=intro)


def _for_dealer(ctx: Context, dealer_id: int) -> Reply:
    """The dealer is known: report an existing binding, or ask for the mobile."""
    assert ctx.follower is not None
    bound = binding.current(ctx.follower.id, dealer_id)
    if bound is not None:
        ctx.conv.clear()
        return ctx.render("binding/already_bound.txt", bound=bound, dealer=_dealer_card(dealer_id))
    try:
        binding_verify.ensure_not_locked(ctx.follower.id)
    except LockedOut as exc:
        return _locked(ctx, exc, dealer_id)
    ctx.conv.enter(Binding.mobile, dealer_id=dealer_id)
    return ctx.render("binding/ask_mobile.txt", dealer=_dealer_card(dealer_id), problem="")


@router.on(any_of(text(*START_WORDS), click(MENU_KEY)))
def start(msg: Inbound, ctx: Context) -> Reply:
    """Start (or restart) binding: find the dealer first."""
    ctx.conv.clear()
    if ctx.follower is None:
        return ctx.render("errors/apology.txt")
    dealer_id = binding.dealer_of(ctx.account_id, ctx.dealer_id)
    if dealer_id is not None:
        return _for_dealer(ctx, dealer_id)
    dealers = dealer_cards.active_dealers(ctx.account_id, limit=LIST_SIZE + 1)
    if not dealers:
        return ctx.render("binding/no_dealers.txt")
    if len(dealers) == 1:
        return _for_dealer(ctx, dealers[0].id)
    more = len(dealers) > LIST_SIZE  # too many to list: the follower can also type a city or a name
    dealers = dealers[:LIST_SIZE]
    ctx.conv.enter(Binding.choose_dealer, choices=[d.id for d in dealers], more=more)
    return ctx.render("binding/choose_dealer.txt", dealers=dealers, problem=False, query="", more=more)


menu_key(MENU_KEY)(start)  # listed with the typed menu names in the help text


@router.on(in_state(Binding.choose_dealer), text(*(str(n) for n in range(1, LIST_SIZE + 1))))
def choose_dealer(msg: Inbound, ctx: Context) -> Reply:
    """A number from the dealer list."""
    choices: list[int] = list(ctx.conv.data.get("choices") or [])
    index = int(msg.content.strip()) - 1
    if not 0 <= index < len(choices):
        return _reask(msg, ctx)
    return _for_dealer(ctx, choices[index])


@router.on(in_state(Binding.choose_dealer), msg_type("text"))
def search_dealer(msg: Inbound, ctx: Context) -> Reply:
    """Not a number from the list: a city or part of a dealer's name narrows the choice."""
    found = dealer_cards.find_dealers(ctx.account_id, msg.content, limit=LIST_SIZE + 1)
    if len(found) == 1:
        return _for_dealer(ctx, found[0].id)
    query = " ".join(msg.content.split())[:30]
    if not found:
        return _reask(msg, ctx, query=query)
    more = len(found) > LIST_SIZE
    found = found[:LIST_SIZE]
    ctx.conv.enter(Binding.choose_dealer, choices=[d.id for d in found], more=more)
    return ctx.render("binding/choose_dealer.txt", dealers=found, problem=False, query=query, more=more)


@router.on(in_state(Binding.mobile), msg_type("text"))
def take_mobile(msg: Inbound, ctx: Context) -> Reply:
    """The mobile: a record asks for the plate / VIN, no record goes to consent as a new lead."""
    assert ctx.follower is not None
    dealer_id = int(ctx.conv.data["dealer_id"])
    try:
        found = binding_verify.lookup(ctx.follower.id, dealer_id, msg.content)
    except BadMobile:
        return ctx.render("binding/ask_mobile.txt", dealer=_dealer_card(dealer_id), problem="bad")
    except TooManyLookups:
        ctx.conv.clear()
        return ctx.render("binding/too_many_lookups.txt", dealer=_dealer_card(dealer_id))
    except LockedOut as exc:
        return _locked(ctx, exc, dealer_id)
    if found.customer_id is None:
        intro = ctx.text("binding/new_lead.txt")
        return _ask_consent(ctx, dealer_id, intro, mobile=found.mobile, lead=True)
    if not found.has_vehicles:
        ctx.conv.clear()
        return ctx.render("binding/no_vehicles.txt", dealer=_dealer_card(dealer_id))
    ctx.conv.enter(Binding.verify, customer_id=found.customer_id)
    return ctx.render("binding/ask_answer.txt")


@router.on(in_state(Binding.verify), msg_type("text"))
def take_answer(msg: Inbound, ctx: Context) -> Reply:
    """The plate or the VIN's last 6: right goes to consent, wrong says how many tries are left."""
    assert ctx.follower is not None
    dealer_id, customer_id = int(ctx.conv.data["dealer_id"]), int(ctx.conv.data["customer_id"])
    try:
        st = binding_verify.verify(ctx.follower.id, customer_id, msg.content)
    except LockedOut as exc:
        return _locked(ctx, exc, dealer_id)
    if st.tries_left >= 0:
        return ctx.render("binding/wrong_answer.txt", tries_left=st.tries_left)
    return _ask_consent(ctx, dealer_id, ctx.text("binding/verified.txt"))


@router.on(in_state(Binding.consent), text(*AGREE_WORDS))
def agree(msg: Inbound, ctx: Context) -> Reply:
    """Consent given: make the link (a new lead, a verified record or a one-time code)."""
    assert ctx.follower is not None
    data = dict(ctx.conv.data)
    ctx.conv.clear()
    dealer_id, consent = int(data["dealer_id"]), str(data["consent"])
    try:
        if data.get("token"):
            linked = binding_codes.redeem(ctx.account_id, str(data["token"]), ctx.follower.id, consent, ctx.language)
        elif data.get("lead"):
            linked = binding.link_new_lead(account_id=ctx.account_id, dealer_id=dealer_id, follower_id=ctx.follower.id,
                                           mobile=str(data["mobile"]), method=BindMethod.CHAT, consent_text=consent,
                                           language=ctx.language)
        else:
            linked = binding.link(follower_id=ctx.follower.id, customer_id=int(data["customer_id"]),
                                  method=BindMethod.CHAT, consent_text=consent, language=ctx.language)
    except AlreadyBound as exc:
        return ctx.render("binding/already_bound.txt", bound=exc.bound or binding.current(ctx.follower.id, dealer_id),
                          dealer=_dealer_card(dealer_id))
    except CodeInvalid:
        return ctx.render("binding/code_invalid.txt")
    except BindingError:
        return ctx.render("binding/failed.txt", dealer=_dealer_card(dealer_id))
    return ctx.render("binding/bound.txt", lead=linked.new_lead, dealer=_dealer_card(dealer_id),
                      account_url=ctx.url(f"/h5/{ctx.account.slug}/"))


@router.on(in_state(Binding.consent), text(*REFUSE_WORDS))
def refuse(msg: Inbound, ctx: Context) -> Reply:
    """No consent: nothing is linked or stored."""
    ctx.conv.clear()
    return ctx.render("binding/refused.txt")


@router.on(text(*UNBIND_WORDS))
def start_unbind(msg: Inbound, ctx: Context) -> Reply:
    """Ask to confirm unbinding the follower's record at their dealer."""
    ctx.conv.clear()
    bound = binding.bindings_of(ctx.follower.id) if ctx.follower else []
    mine = next((b for b in bound if b.dealer_id == ctx.dealer_id), bound[0] if bound else None)
    if mine is None:
        return ctx.render("binding/not_bound.txt")
    ctx.conv.enter(Binding.unbind_confirm, dealer_id=mine.dealer_id)
    return ctx.render("binding/confirm_unbind.txt", bound=mine, dealer=_dealer_card(mine.dealer_id))


@router.on(in_state(Binding.unbind_confirm), text(*CONFIRM_WORDS))
def confirm_unbind(msg: Inbound, ctx: Context) -> Reply:
    """Remove the binding."""
    assert ctx.follower is not None
    dealer_id = int(ctx.conv.data["dealer_id"])
    ctx.conv.clear()
    gone = binding.unbind(ctx.follower.id, dealer_id)
    return ctx.render("binding/unbound.txt" if gone else "binding/not_bound.txt")


@router.on(in_state(Binding.unbind_confirm), any_message())
def keep_binding(msg: Inbound, ctx: Context) -> Reply:
    """Anything but a confirmation keeps the binding."""
    ctx.conv.clear()
    return ctx.render("binding/unbind_kept.txt")


@router.on(in_state(Binding.choose_dealer, Binding.mobile, Binding.verify, Binding.consent), any_message())
def reask(msg: Inbound, ctx: Context) -> Reply:
    """Stray input: ask the current question again."""
    return _reask(msg, ctx)


def _reask(msg: Inbound, ctx: Context, query: str = "") -> Reply:
    state, data = ctx.conv.state, ctx.conv.data
    if state == Binding.choose_dealer.name:
        dealers = [c for i in data.get("choices") or [] if (c := _dealer_card(int(i))) is not None]
        return ctx.render("binding/choose_dealer.txt", dealers=dealers, problem=True, query=query,
                          more=bool(data.get("more")))
    if state == Binding.mobile.name:
        return ctx.render("binding/ask_mobile.txt", dealer=_dealer_card(data.get("dealer_id")), problem="bad")
    if state == Binding.verify.name:
        return ctx.render("binding/ask_answer.txt")
    return ctx.render("binding/ask_consent.txt", consent=str(data.get("consent", "")), intro="")


def start_from_code(ctx: Context, token: str, prefix: str = "") -> str:
    """A scan of a one-time binding QR: ask for consent with the code stashed (the text to reply)."""
    try:
        info: CodeInfo = binding_codes.check(ctx.account_id, token)
    except CodeInvalid:
        ctx.conv.clear()
        return _join(prefix, ctx.text("binding/code_invalid.txt"))
    if ctx.follower is not None:
        bound = binding.current(ctx.follower.id, info.dealer_id)
        if bound is not None:
            ctx.conv.clear()
            return _join(prefix, ctx.text("binding/already_bound.txt", bound=bound,
                                          dealer=_dealer_card(info.dealer_id)))
    reply = _ask_consent(ctx, info.dealer_id, ctx.text("binding/code_scanned.txt", dealer=_dealer_card(info.dealer_id)),
                         token=info.token)
    return _join(prefix, getattr(reply, "content", ""))


def _join(*parts: str) -> str:
    return "\n\n".join(p.strip() for p in parts if p and p.strip())
