"""The last step of booking in chat: the summary (with a request key made once) and the booking itself.

Booking twice with the same draft (a second "确认") returns the same booking: the request key decides.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from handlers import booking_steps as steps
from scrm.models import BookingSource, BookingStatus
from scrm.services import booking, booking_chat, booking_chat_offer, dealer_cards, normalize
from scrm.services.booking import BookingRequest, SlotTaken
from scrm.services.errors import DomainError, Invalid
from scrm.wechat.conversation import State
from scrm.wechat.replies import Reply
from scrm.wechat.router import Context


def mobile(text: str) -> str | None:
    """The 11-digit mainland mobile in an answer, else None."""
    try:
        phone = normalize.phone(text)
    except Invalid:
        return None
    return phone.value if phone is not None and phone.kind == "mobile" else None


def summary(ctx: Context, state: State, problem: bool = False) -> Reply:
    """Show what will be booked; a new request key each time the summary is first shown."""
    if not problem or not ctx.conv.data.get("request_key"):
        ctx.conv.enter(state, request_key=uuid.uuid4().hex)
    return ctx.render("booking/summary.txt", problem=problem, **facts(ctx, ctx.conv.data))


def facts(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    """What the summary and the confirmation show, from a draft."""
    dealer_id = int(data["dealer_id"])
    tz = ZoneInfo(str(data["tz"])) if data.get("tz") else booking_chat_offer.window(dealer_id).tz
    day, t = booking_chat_offer.local(datetime.fromisoformat(str(data["start"])), tz)
    return {"dealer": dealer_cards.dealer_card(dealer_id), "service": data.get("service_name", ""),
            "vehicle": data.get("vehicle_label") or "", "model": data.get("model") or "",
            "when": f"{booking_chat.day_label(day, ctx.language)} {booking_chat.time_label(t)}",
            "duration": booking_chat.duration_label(int(data.get("duration") or 0), ctx.language),
            "mobile": data.get("mobile") or ""}


def book(ctx: Context, data: dict[str, Any], time_state: State) -> Reply:
    """Book the draft; a time taken meanwhile offers the nearest free ones, other refusals say why."""
    assert ctx.follower is not None
    req = BookingRequest(
        dealer_id=int(data["dealer_id"]), service_type_id=int(data["service_id"]),
        start_at=datetime.fromisoformat(str(data["start"])), source=BookingSource.CHAT,
        request_key=str(data["request_key"]), customer_id=data.get("customer_id"), follower_id=ctx.follower.id,
        vehicle_id=data.get("vehicle_id"), demo_model=data.get("model") or None,
        contact_name=str(data.get("owner_name") or ""), contact_mobile=str(data.get("mobile") or ""),
        licence_confirmed=bool(data.get("licence")))
    try:
        made = booking.book(req)
    except SlotTaken as exc:
        if not exc.alternatives:
            ctx.conv.clear()
            return ctx.render("booking/refused.txt", message=steps.error_text(ctx, exc))
        return steps.offer_alternatives(ctx, time_state, exc.alternatives, steps.error_text(ctx, exc))
    except DomainError as exc:
        ctx.conv.clear()
        return ctx.render("booking/refused.txt", message=steps.error_text(ctx, exc))
    ctx.conv.clear()
    if made.status == BookingStatus.CANCELLED:  # a repeated "确认" after the booking was cancelled elsewhere
        return ctx.render("my_bookings/gone.txt")
    shown = facts(ctx, data)
    ctx.conv.update(booked=data)  # no state: only a repeated "确认" reads it (handlers.booking.confirm_again)
    return ctx.render("booking/booked.txt", bookings_url=steps.bookings_url(ctx), **shown)
