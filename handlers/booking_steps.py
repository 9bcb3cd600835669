"""The day, time and error steps shared by booking (handlers/booking.py) and moving a booking
(handlers/my_bookings.py): only days and times with room, numbered, re-asked on a wrong answer.

The conversation draft holds `dealer_id`, `service_id`, `model` / `car` (test drives), `tz`, the days
on show (`days`, `page`, `more`) and the times on show (`slots`: [UTC start, "HH:MM", local day]).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from scrm.services import booking_chat, booking_chat_offer, dealer_cards
from scrm.services.booking_availability import availability
from scrm.services.booking_chat import day_label, parse_choice, parse_day, parse_time, time_label
from scrm.services.errors import DomainError
from scrm.textnorm import normalize
from scrm.wechat.conversation import State
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Reply
from scrm.wechat.router import Context

MORE_WORDS = ("更多", "更多日期", "下一页", "more", "next")
CONFIRM_WORDS = ("确认", "确定", "确认预约", "1", "是", "好", "confirm", "yes", "ok")


def is_word(msg: Inbound, words: tuple[str, ...]) -> bool:
    """Whether a text message is one of `words` (normalised)."""
    return msg.msg_type == "text" and normalize(msg.content) in {normalize(w) for w in words}


def calendar_url(ctx: Context, dealer_id: int, service_id: int | None = None, model: str | None = None) -> str:
    """The H5 booking page of a dealer (and service), as an absolute link."""
    query: dict[str, Any] = {"dealer": dealer_id}
    if service_id is not None:
        query["service"] = service_id
    if model:
        query["model"] = model
    return ctx.url(f"/h5/{ctx.account.slug}/book?{urlencode(query)}")


def bookings_url(ctx: Context) -> str:
    """The follower's 我的预约 H5 page."""
    return ctx.url(f"/h5/{ctx.account.slug}/bookings")


def zone(ctx: Context) -> ZoneInfo:
    """The dealer's booking time zone, kept in the draft."""
    data = ctx.conv.data
    if not data.get("tz"):
        ctx.conv.update(tz=str(booking_chat_offer.window(int(data["dealer_id"])).tz))
    return ZoneInfo(str(ctx.conv.data["tz"]))


def when_label(ctx: Context, start_at: datetime) -> str:
    """"11月25日 周三 10:30" in the dealer's time zone."""
    day, t = booking_chat_offer.local(start_at, zone(ctx))
    return f"{day_label(day, ctx.language)} {time_label(t)}"


def error_text(ctx: Context, exc: DomainError) -> str:
    """A domain error's message in the follower's language."""
    return ctx.text("booking/error.txt", message=exc.message, params=dict(exc.params))


def _free(ctx: Context) -> list[tuple[date, int]]:
    data = ctx.conv.data
    days = booking_chat_offer.free(int(data["dealer_id"]), int(data["service_id"]), demo_model=data.get("model"),
                                   demo_car_id=data.get("car"), moving=data.get("moving"))
    return [(d.day, len(d.slots)) for d in days if d.slots]


def ask_day(ctx: Context, state: State, page: int = 0, problem: str = "", full_day: date | None = None) -> Reply:
    """List the days with room (a page of them) and wait for the follower's pick."""
    data = ctx.conv.data
    zone(ctx)
    options = _free(ctx)
    if not options:
        dealer = dealer_cards.dealer_card(int(data["dealer_id"]))
        ctx.conv.clear()
        return ctx.render("booking/no_days.txt", dealer=dealer)
    shown, more = booking_chat.page(options, page)
    if not shown:
        page, (shown, more) = 0, booking_chat.page(options, 0)
    ctx.conv.enter(state, days=[[d.isoformat(), n] for d, n in shown], page=page, more=more, slots=[])
    return render_days(ctx, problem, full_day)


def render_days(ctx: Context, problem: str = "", full_day: date | None = None) -> Reply:
    """The day question from the draft (no query)."""
    data = ctx.conv.data
    days = [(n, day_label(date.fromisoformat(d), ctx.language), free)
            for n, (d, free) in enumerate(data.get("days") or [], start=1)]
    link = calendar_url(ctx, int(data["dealer_id"]), int(data["service_id"]), data.get("model"))
    return ctx.render("booking/ask_day.txt", days=days, more=bool(data.get("more")), problem=problem,
                      full_day=day_label(full_day, ctx.language) if full_day else "", calendar_url=link)


def take_day(msg: Inbound, ctx: Context, day_state: State, time_state: State) -> Reply:
    """A day answer: a number, "更多", or a date in words; only days with room are taken."""
    data = ctx.conv.data
    if is_word(msg, MORE_WORDS):
        return ask_day(ctx, day_state, page=int(data.get("page") or 0) + 1 if data.get("more") else 0)
    shown = [date.fromisoformat(d) for d, _n in data.get("days") or []]
    index = parse_choice(msg.content, len(shown)) if msg.msg_type == "text" else None
    if index is not None:
        return ask_time(ctx, time_state, day_state, shown[index])
    wanted = parse_day(msg.content, booking_chat_offer.window(int(data["dealer_id"])).today) \
        if msg.msg_type == "text" else None
    if wanted is None:
        return render_days(ctx, problem="bad")
    if wanted not in {d for d, _n in _free(ctx)}:
        return render_days(ctx, problem="full", full_day=wanted)
    return ask_time(ctx, time_state, day_state, wanted)


def ask_time(ctx: Context, state: State, day_state: State, day: date) -> Reply:
    """List the free times of `day`; a day that filled up meanwhile goes back to the days."""
    data = ctx.conv.data
    [found] = availability(int(data["dealer_id"]), int(data["service_id"]), day, 1, demo_model=data.get("model"),
                           demo_car_id=data.get("car"), moving=data.get("moving"))
    if not found.slots:
        return ask_day(ctx, day_state, problem="full", full_day=day)
    slots = [[f.start_at.isoformat(), time_label(f.local), day.isoformat()] for f in found.slots]
    ctx.conv.enter(state, slots=slots, alternatives=False)
    return render_times(ctx)


def offer_alternatives(ctx: Context, state: State, starts: list[datetime], intro: str) -> Reply:
    """After a slot was taken: the nearest free times (with their days) as the new choices."""
    tz = zone(ctx)
    slots = []
    for start in starts:
        day, t = booking_chat_offer.local(start, tz)
        slots.append([start.isoformat(), time_label(t), day.isoformat()])
    ctx.conv.enter(state, slots=slots, alternatives=True, request_key="")
    return render_times(ctx, intro=intro)


def render_times(ctx: Context, problem: str = "", intro: str = "") -> Reply:
    """The time question from the draft (no query)."""
    data = ctx.conv.data
    slots = data.get("slots") or []
    if data.get("alternatives"):
        choices = [(n, f"{day_label(date.fromisoformat(d), ctx.language)} {hhmm}")
                   for n, (_s, hhmm, d) in enumerate(slots, start=1)]
        return ctx.render("booking/ask_time.txt", alternatives=choices, day="", morning=[], afternoon=[],
                          problem=problem, intro=intro)
    morning, afternoon = booking_chat.halves([datetime.strptime(hhmm, "%H:%M").time() for _s, hhmm, _d in slots])
    day = day_label(date.fromisoformat(slots[0][2]), ctx.language) if slots else ""
    return ctx.render("booking/ask_time.txt", alternatives=[], day=day, problem=problem, intro=intro,
                      morning=[(n, time_label(t)) for n, t in morning],
                      afternoon=[(n, time_label(t)) for n, t in afternoon])


def other_day(msg: Inbound, ctx: Context, day_state: State, time_state: State) -> Reply | None:
    """At the time step, "更多" lists the days again and a day in words picks that day; else None."""
    if is_word(msg, MORE_WORDS):
        return ask_day(ctx, day_state, page=int(ctx.conv.data.get("page") or 0))
    if msg.msg_type == "text" and parse_time(msg.content) is None \
            and parse_day(msg.content, ctx.now().date()) is not None:
        return take_day(msg, ctx, day_state, time_state)
    return None


def take_time(msg: Inbound, ctx: Context) -> datetime | Reply:
    """A time answer: a number or a clock time among the free ones; the chosen UTC start, or a re-ask."""
    slots = ctx.conv.data.get("slots") or []
    if msg.msg_type != "text":
        return render_times(ctx, problem="bad")
    index = parse_choice(msg.content, len(slots))
    if index is None:
        wanted = parse_time(msg.content)
        if wanted is not None:
            index = next((i for i, (_s, hhmm, _d) in enumerate(slots) if hhmm == time_label(wanted)), None)
            if index is None:
                return render_times(ctx, problem="taken")
    if index is None:
        return render_times(ctx, problem="bad")
    return datetime.fromisoformat(slots[index][0])
