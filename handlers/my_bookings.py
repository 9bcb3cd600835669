"""我的预约 in chat: list the follower's upcoming bookings, then cancel or move one within the dealer's rules.

Only the follower's own bookings (and those of records bound to it) are listed or reached: every
choice is checked again through booking_mine / booking_status with the follower's id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handlers import booking_steps as steps
from handlers.menu import menu_key
from scrm.services import booking, booking_chat, booking_chat_offer, booking_mine, booking_status
from scrm.services.booking import SlotTaken
from scrm.services.booking_chat import parse_choice
from scrm.services.booking_mine import BookingView
from scrm.services.errors import DomainError, NotFound
from scrm.wechat.conversation import State, StateGroup
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Reply
from scrm.wechat.router import Context, Router, any_message, any_of, click, in_state, negate, no_state, text

MENU_KEY = "MY_BOOKINGS"
START_WORDS = ("我的预约", "查看预约", "my bookings")
MOVE_WORDS = ("1", "改期", "修改时间", "改时间", "move", "reschedule")
CANCEL_WORDS = ("2", "取消预约", "cancel booking")
ELSEWHERE = ("预约", "预约保养", "保养预约", "预约维修", "预约试驾", "试驾", "附近门店", "门店")


class MyBookings(StateGroup, group="my_bookings"):
    pick = State()
    action = State()
    cancel_confirm = State()
    day = State()
    time = State()
    confirm = State()


router = Router("my_bookings", states=MyBookings)


def _labels(ctx: Context, v: BookingView) -> dict[str, Any]:
    local = v.start_local
    when = f"{booking_chat.day_label(local.date(), ctx.language)} {booking_chat.time_label(local.time())}"
    return {"id": v.id, "dealer": v.dealer_name, "phone": v.dealer_phone, "service": v.service_name, "when": when,
            "vehicle": v.vehicle_label, "model": v.demo_model, "can_change": v.can_change,
            "checked_in": v.status == "checked_in",
            "duration": booking_chat.duration_label(v.duration_minutes, ctx.language)}


@router.on(any_of(text(*START_WORDS), click(MENU_KEY)))
def start(msg: Inbound, ctx: Context) -> Reply:
    """The follower's upcoming bookings, numbered."""
    ctx.conv.clear()
    if ctx.follower is None:
        return ctx.render("errors/apology.txt")
    views = booking_mine.for_follower(ctx.follower.id)
    if not views:
        return ctx.render("my_bookings/none.txt", bookings_url=steps.bookings_url(ctx))
    ctx.conv.enter(MyBookings.pick, ids=[v.id for v in views])
    return ctx.render("my_bookings/list.txt", bookings=[_labels(ctx, v) for v in views], problem=False)


menu_key(MENU_KEY)(start)


def _mine(ctx: Context, booking_id: int) -> BookingView | None:
    assert ctx.follower is not None
    try:
        return booking_mine.one_for_follower(ctx.follower.id, booking_id)
    except NotFound:
        return None


@router.on(no_state(), lambda m, c: bool(c.conv.data.get("done")), text(*steps.CONFIRM_WORDS))
def confirm_again(msg: Inbound, ctx: Context) -> Reply:
    """A second "确认" after a cancel or a move: the same answer, nothing done twice."""
    done = dict(ctx.conv.data["done"])
    view = _mine(ctx, int(done["booking_id"]))
    if view is None:
        ctx.conv.clear()
        return ctx.render("my_bookings/gone.txt")
    template = "my_bookings/cancelled.txt" if done["what"] == "cancel" else "my_bookings/moved.txt"
    return ctx.render(template, booking=_labels(ctx, view), bookings_url=steps.bookings_url(ctx))


@router.on(in_state(MyBookings.pick), negate(text(*ELSEWHERE)), any_message())
def pick(msg: Inbound, ctx: Context) -> Reply:
    """A number from the list: that booking, with 1 改期 2 取消预约 while it may still be changed."""
    ids = list(ctx.conv.data.get("ids") or [])
    index = parse_choice(msg.content, len(ids)) if msg.msg_type == "text" else None
    view = _mine(ctx, int(ids[index])) if index is not None else None
    if view is None:
        views = [v for i in ids if (v := _mine(ctx, int(i))) is not None]
        return ctx.render("my_bookings/list.txt", bookings=[_labels(ctx, v) for v in views], problem=True)
    return _detail(ctx, view)


def _detail(ctx: Context, view: BookingView, problem: bool = False) -> Reply:
    if not view.can_change:
        ctx.conv.clear()
    else:
        ctx.conv.enter(MyBookings.action, booking_id=view.id, dealer_id=view.dealer_id,
                       service_id=view.service_type_id, service_name=view.service_name, tz="")
    return ctx.render("my_bookings/detail.txt", booking=_labels(ctx, view), problem=problem)


@router.on(in_state(MyBookings.action), text(*MOVE_WORDS))
def move_start(msg: Inbound, ctx: Context) -> Reply:
    """改期: the days with room for the same service (and the same demo car)."""
    booking_id = int(ctx.conv.data["booking_id"])
    ctx.conv.update(car=booking_chat_offer.demo_car_of(booking_id), moving=booking_id)
    return steps.ask_day(ctx, MyBookings.day)


@router.on(in_state(MyBookings.action), text(*CANCEL_WORDS))
def cancel_start(msg: Inbound, ctx: Context) -> Reply:
    """取消预约: ask to confirm."""
    view = _mine(ctx, int(ctx.conv.data["booking_id"]))
    if view is None:
        ctx.conv.clear()
        return ctx.render("my_bookings/gone.txt")
    ctx.conv.enter(MyBookings.cancel_confirm)
    return ctx.render("my_bookings/cancel_confirm.txt", booking=_labels(ctx, view))


@router.on(in_state(MyBookings.cancel_confirm), text(*steps.CONFIRM_WORDS))
def cancel(msg: Inbound, ctx: Context) -> Reply:
    """Cancel it through the dealer's rules (the cut-off refuses with its reason)."""
    assert ctx.follower is not None
    booking_id = int(ctx.conv.data["booking_id"])
    ctx.conv.clear()
    try:
        booking_status.cancel(booking_id, follower_id=ctx.follower.id, in_chat=True,
                              reason=ctx.text("my_bookings/cancel_reason.txt").strip())
    except DomainError as exc:
        view = _mine(ctx, booking_id)
        return ctx.render("my_bookings/refused.txt", message=steps.error_text(ctx, exc),
                          phone=view.dealer_phone if view else "")
    ctx.conv.update(done={"what": "cancel", "booking_id": booking_id})
    view = _mine(ctx, booking_id)
    assert view is not None
    return ctx.render("my_bookings/cancelled.txt", booking=_labels(ctx, view), bookings_url=steps.bookings_url(ctx))


@router.on(in_state(MyBookings.cancel_confirm), negate(text(*ELSEWHERE)), any_message())
def keep(msg: Inbound, ctx: Context) -> Reply:
    """Anything but a confirmation keeps the booking."""
    ctx.conv.clear()
    return ctx.render("my_bookings/kept.txt")


@router.on(in_state(MyBookings.day), negate(text(*ELSEWHERE)), any_message())
def move_day(msg: Inbound, ctx: Context) -> Reply:
    """The new day."""
    return steps.take_day(msg, ctx, MyBookings.day, MyBookings.time)


@router.on(in_state(MyBookings.time), negate(text(*ELSEWHERE)), any_message())
def move_time(msg: Inbound, ctx: Context) -> Reply:
    """The new time, then the summary."""
    instead = steps.other_day(msg, ctx, MyBookings.day, MyBookings.time)
    if instead is not None:
        return instead
    chosen = steps.take_time(msg, ctx)
    if not isinstance(chosen, datetime):
        return chosen
    ctx.conv.enter(MyBookings.confirm, start=chosen.isoformat())
    return _summary(ctx)


def _summary(ctx: Context, problem: bool = False) -> Reply:
    view = _mine(ctx, int(ctx.conv.data["booking_id"]))
    if view is None:
        ctx.conv.clear()
        return ctx.render("my_bookings/gone.txt")
    new = steps.when_label(ctx, datetime.fromisoformat(str(ctx.conv.data["start"])))
    return ctx.render("my_bookings/move_summary.txt", booking=_labels(ctx, view), new=new, problem=problem)


@router.on(in_state(MyBookings.confirm), text(*steps.CONFIRM_WORDS))
def move(msg: Inbound, ctx: Context) -> Reply:
    """Move it through the dealer's rules; a time taken meanwhile offers the nearest free ones."""
    assert ctx.follower is not None
    booking_id = int(ctx.conv.data["booking_id"])
    try:
        booking.move(booking_id, datetime.fromisoformat(str(ctx.conv.data["start"])), follower_id=ctx.follower.id,
                     in_chat=True)
    except SlotTaken as exc:
        if exc.alternatives:
            return steps.offer_alternatives(ctx, MyBookings.time, exc.alternatives, steps.error_text(ctx, exc))
        ctx.conv.clear()
        return ctx.render("my_bookings/refused.txt", message=steps.error_text(ctx, exc), phone="")
    except DomainError as exc:
        ctx.conv.clear()
        view = _mine(ctx, booking_id)
        return ctx.render("my_bookings/refused.txt", message=steps.error_text(ctx, exc),
                          phone=view.dealer_phone if view else "")
    ctx.conv.clear()
    ctx.conv.update(done={"what": "move", "booking_id": booking_id})
    view = _mine(ctx, booking_id)
    assert view is not None
    return ctx.render("my_bookings/moved.txt", booking=_labels(ctx, view), bookings_url=steps.bookings_url(ctx))


@router.on(in_state(MyBookings.confirm), negate(text(*ELSEWHERE)), any_message())
def move_reask(msg: Inbound, ctx: Context) -> Reply:
    """Anything but a confirmation: the summary again."""
    return _summary(ctx, problem=True)


@router.on(in_state(MyBookings.action), negate(text(*ELSEWHERE)), any_message())
def action_reask(msg: Inbound, ctx: Context) -> Reply:
    """Neither 改期 nor 取消预约: the booking and its choices again."""
    view = _mine(ctx, int(ctx.conv.data["booking_id"]))
    if view is None:
        ctx.conv.clear()
        return ctx.render("my_bookings/gone.txt")
    return _detail(ctx, view, problem=True)
