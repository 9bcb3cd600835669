"""Owners' club in chat: upcoming events, register (with companions), cancel, my events; check-in scenes.

活动 / 车主活动 / the CLUB_EVENTS menu key list the upcoming events the member may join (numbered); a
number shows one with 报名 / 取消报名; 报名 asks for companions when the event allows them. Every wrong
answer re-asks; "取消" (handlers.common) ends it. A scan of (or a follow through) an event's check-in QR
(`event:<token>`) checks the member in.
"""

from __future__ import annotations

from handlers.menu import menu_key
from handlers.subscribe import scene_hook
from scrm.services import club, club_checkin, dealer_cards
from scrm.services.booking_chat import parse_choice
from scrm.services.errors import DomainError
from scrm.textnorm import normalize as norm
from scrm.wechat.conversation import State, StateGroup
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Reply, TextReply
from scrm.wechat.router import Context, Router, in_state, msg_type, negate, text

CLUB_KEY = "CLUB_EVENTS"
MINE_WORDS = ("我的活动", "my events")
REGISTER_WORDS = ("报名", "register", "sign up")
CANCEL_REGISTRATION_WORDS = ("取消报名", "cancel registration")


class Club(StateGroup, group="club"):
    pick = State()
    action = State()
    companions = State()


router = Router("club", states=Club)


def events_url(ctx: Context, event_id: int | None = None) -> str:
    """The H5 events page (h5.events), or one event's page, absolute."""
    return ctx.url(f"/h5/{ctx.account.slug}/events" + (f"/{event_id}" if event_id else ""))


@router.on(text(*MINE_WORDS))
def my_events(msg: Inbound, ctx: Context) -> Reply:
    """我的活动: the member's coming registrations and waitlist places."""
    ctx.conv.clear()
    if ctx.follower is None:
        return ctx.render("errors/apology.txt")
    rows = [(ev, reg, pos, club.when_text(ev, ctx.language)) for ev, reg, pos in club.mine(ctx.follower.id, ctx.now())]
    return ctx.render("club/mine.txt", rows=rows, url=events_url(ctx))


@menu_key(CLUB_KEY, "活动", "车主活动", "events", "club events")
def list_events(msg: Inbound, ctx: Context) -> Reply:
    """活动 / 车主活动: the upcoming events the member may join, numbered."""
    ctx.conv.clear()
    if ctx.follower is None:
        return ctx.render("errors/apology.txt")
    found = club.upcoming(ctx.follower.id, ctx.now())
    if not found:
        return ctx.render("club/none.txt", url=events_url(ctx))
    ctx.conv.enter(Club.pick, events=[ev.id for ev in found])
    return _render_list(ctx)


def _render_list(ctx: Context, problem: bool = False) -> Reply:
    assert ctx.follower is not None
    ids = [int(i) for i in ctx.conv.data.get("events") or []]
    shown = [ev for ev in club.upcoming(ctx.follower.id, ctx.now()) if ev.id in ids]
    rows = [(ev, club.when_text(ev, ctx.language), _dealer_name(ev.dealer_id)) for ev in shown]
    return ctx.render("club/list.txt", rows=rows, problem=problem, url=events_url(ctx))


def _dealer_name(dealer_id: int | None) -> str:
    """The hosting dealer's name ('' for an account-wide event): events of several dealers look alike."""
    card = dealer_cards.dealer_card(dealer_id)
    return card.name if card is not None else ""


@router.on(in_state(Club.pick), msg_type("text"))
def pick_event(msg: Inbound, ctx: Context) -> Reply:
    """A number from the list: the event with what can be done."""
    ids = [int(i) for i in ctx.conv.data.get("events") or []]
    index = parse_choice(msg.content, len(ids))
    if index is None:
        return _render_list(ctx, problem=True)
    return _show(ctx, ids[index])


def _show(ctx: Context, event_id: int, problem: bool = False, note: str = "") -> Reply:
    assert ctx.follower is not None
    try:
        ev = club.public_event(ctx.account_id, event_id)
    except DomainError as exc:
        ctx.conv.clear()
        return TextReply(ctx.text("club/error.txt", message=exc.message, params=exc.params))
    reg, position = club.registration_of(ctx.follower.id, event_id)
    active = club.is_active(reg)
    ctx.conv.enter(Club.action, event_id=event_id, active=active)
    return ctx.render("club/event.txt", ev=ev, when=club.when_text(ev, ctx.language), reg=reg, position=position,
                      active=active, problem=problem, note=note, url=events_url(ctx, event_id))


@router.on(in_state(Club.action), msg_type("text"))
def choose_action(msg: Inbound, ctx: Context) -> Reply:
    """报名 (1) or 取消报名 (2) for the event shown."""
    assert ctx.follower is not None
    event_id, active = int(ctx.conv.data["event_id"]), bool(ctx.conv.data.get("active"))
    said = norm(msg.content)
    if said in CANCEL_REGISTRATION_WORDS or (active and said == "1"):
        if not active:
            return _show(ctx, event_id, problem=True)
        try:
            promoted = club.cancel(ctx.follower.id, event_id, ctx.now())
        except DomainError as exc:
            return _failed(ctx, exc)
        ctx.conv.clear()
        return ctx.render("club/cancelled.txt", promoted=len(promoted))
    if not active and (said in REGISTER_WORDS or said == "1"):
        ev = club.public_event(ctx.account_id, event_id)
        if ev.max_companions > 0:
            ctx.conv.enter(Club.companions, most=ev.max_companions)
            return ctx.render("club/ask_companions.txt", most=ev.max_companions, problem=False)
        return _register(ctx, event_id, 0)
    return _show(ctx, event_id, problem=True)


@router.on(in_state(Club.companions), msg_type("text"), negate(text(*MINE_WORDS)))
def choose_companions(msg: Inbound, ctx: Context) -> Reply:
    """How many companions (0 to the event's maximum)."""
    most = int(ctx.conv.data.get("most") or 0)
    said = norm(msg.content)
    index = parse_choice(str(int(said) + 1), most + 1) if said.isdigit() else None
    if index is None:
        return ctx.render("club/ask_companions.txt", most=most, problem=True)
    return _register(ctx, int(ctx.conv.data["event_id"]), index)


def _register(ctx: Context, event_id: int, companions: int) -> Reply:
    assert ctx.follower is not None
    try:
        done = club.register(ctx.follower.id, event_id, companions, ctx.now())
    except DomainError as exc:
        return _failed(ctx, exc)
    ctx.conv.clear()
    ev = club.public_event(ctx.account_id, event_id)
    return ctx.render("club/registered.txt", r=done, ev=ev, when=club.when_text(ev, ctx.language),
                      url=events_url(ctx, event_id))


def _failed(ctx: Context, exc: DomainError) -> Reply:
    ctx.conv.clear()
    return TextReply(ctx.text("club/error.txt", message=exc.message, params=exc.params))


@scene_hook(club_checkin.SCENE_PREFIX)
def check_in_scene(msg: Inbound, ctx: Context, result: object, reply: Reply, followed: bool) -> Reply | None:
    """A scan of (or a follow through) an event's check-in QR: check in once, with the event's points."""
    token = club_checkin.token_of(msg.scene or "")
    follower_id = club_checkin.follower_id_of(ctx.account_id, msg.openid) if token else None
    if token is None or follower_id is None:
        return None
    done = club_checkin.check_in(ctx.account_id, follower_id, token, ctx.now())
    opens = club_checkin.opens_text(ctx.account_id, token, done.opens_at, ctx.language) if done.opens_at else ""
    said = ctx.text("club/checkin.txt", r=done, opens=opens, url=events_url(ctx))
    if followed and isinstance(reply, TextReply) and reply.content:
        said = reply.content + "\n\n" + said
    return TextReply(said)
