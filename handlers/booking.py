"""Booking in chat: 预约保养 / 预约试驾 -> dealer -> vehicle -> service (or model + licence) -> day -> time
-> mobile (without a bound record) -> confirm.

Every step re-asks on a wrong answer, "取消" (handlers.common) ends it, and it expires with the
conversation. The request key is made once, when the summary is shown: a second "确认" (even after
the booking was made) gets the same booking and the same answer.
"""

from __future__ import annotations

from datetime import datetime

from handlers import booking_confirm as confirming
from handlers import booking_dealer as dealers
from handlers import booking_steps as steps
from handlers.menu import menu_key
from scrm.models import ServiceKind
from scrm.services import booking_chat, booking_chat_offer, booking_mine, dealer_cards
from scrm.services.booking_chat import parse_choice
from scrm.textnorm import normalize as norm
from scrm.wechat.conversation import State, StateGroup
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Reply
from scrm.wechat.router import Context, Router, any_message, any_of, click, in_state, msg_type, negate, no_state, text

SERVICE_KEY, TEST_DRIVE_KEY = "BOOK_SERVICE", "BOOK_TEST_DRIVE"
SERVICE_WORDS = {"预约": "", "预约保养": "maintenance", "保养预约": "maintenance", "预约维修": "repair",
                 "book": "", "book service": "maintenance", "book a service": "maintenance"}
TEST_DRIVE_WORDS = ("预约试驾", "试驾", "test drive", "book a test drive")
YES_WORDS = ("是", "有", "有驾照", "持有", "1", "yes", "y")
NO_WORDS = ("否", "没有", "无", "不是", "2", "no", "n")
# words of the other booking features: they leave this conversation instead of being re-asked
ELSEWHERE = ("我的预约", "my bookings", "附近门店", "门店", "nearby", "nearby dealers")


class Booking(StateGroup, group="booking"):
    dealer = State()
    vehicle = State()
    service = State()
    model = State()
    licence = State()
    day = State()
    time = State()
    mobile = State()
    confirm = State()


router = Router("booking", states=Booking)


def _start(ctx: Context, kind: str, preset: str) -> Reply:
    ctx.conv.clear()
    if ctx.follower is None:
        return ctx.render("errors/apology.txt")
    ctx.conv.enter(Booking.dealer, kind=kind, preset=preset)
    asked = dealers.ask_dealer(ctx, Booking.dealer)
    return _for_dealer(ctx, asked) if isinstance(asked, int) else asked


@router.on(any_of(text(*TEST_DRIVE_WORDS), click(TEST_DRIVE_KEY)))
def start_test_drive(msg: Inbound, ctx: Context) -> Reply:
    """预约试驾: dealer, model, licence, day, time."""
    return _start(ctx, "test_drive", "")


@router.on(any_of(text(*SERVICE_WORDS), click(SERVICE_KEY)))
def start_service(msg: Inbound, ctx: Context) -> Reply:
    """预约保养 / 预约维修 / 预约: dealer, vehicle, service, day, time."""
    preset = "maintenance" if msg.event == "click" else SERVICE_WORDS.get(norm(msg.content), "")
    return _start(ctx, "service", preset)


menu_key(SERVICE_KEY)(start_service)        # typed button names reach it too
menu_key(TEST_DRIVE_KEY)(start_test_drive)


def _has_booked(msg: Inbound, ctx: Context) -> bool:
    return bool(ctx.conv.data.get("booked"))


@router.on(no_state(), _has_booked, text(*steps.CONFIRM_WORDS))
def confirm_again(msg: Inbound, ctx: Context) -> Reply:
    """A second "确认" after the booking was made: the same booking (same request key), the same answer."""
    return confirming.book(ctx, dict(ctx.conv.data["booked"]), Booking.time)


# ---- dealer -------------------------------------------------------------------------------------

@router.on(in_state(Booking.dealer), msg_type("location"))
def dealer_by_location(msg: Inbound, ctx: Context) -> Reply:
    """A location at the dealer step: the nearest dealers to choose from."""
    return dealers.take_location(msg, ctx, Booking.dealer)


@router.on(in_state(Booking.dealer), msg_type("text"), negate(text(*ELSEWHERE)))
def choose_dealer(msg: Inbound, ctx: Context) -> Reply:
    """A number from the dealer list, or a city / name to search."""
    choices = list(ctx.conv.data.get("choices") or [])
    index = parse_choice(msg.content, len(choices))
    if index is not None:
        return _for_dealer(ctx, int(choices[index]))
    if booking_chat.is_number(msg.content):
        return dealers.render(ctx, problem="bad")
    found = dealers.search(msg, ctx, Booking.dealer)
    return _for_dealer(ctx, found) if isinstance(found, int) else found


def _for_dealer(ctx: Context, dealer_id: int) -> Reply:
    assert ctx.follower is not None
    ctx.conv.update(dealer_id=dealer_id, choices=[], km=[], tz="")
    owner = booking_mine.owner_for(ctx.follower.id, dealer_id)
    ctx.conv.update(customer_id=owner.customer_id, owner_name=owner.name)
    if ctx.conv.data.get("kind") == "test_drive":
        return _ask_model(ctx, dealer_id)
    if len(owner.vehicles) == 1:
        ctx.conv.update(vehicle_id=owner.vehicles[0].id, vehicle_label=owner.vehicles[0].label)
    elif owner.vehicles:
        ctx.conv.enter(Booking.vehicle, vehicles=[[v.id, v.label] for v in owner.vehicles])
        return _render_vehicles(ctx)
    return _ask_service(ctx)


# ---- vehicle and service ------------------------------------------------------------------------

def _render_vehicles(ctx: Context, problem: bool = False) -> Reply:
    return ctx.render("booking/ask_vehicle.txt", vehicles=[label for _id, label in ctx.conv.data["vehicles"]],
                      problem=problem)


@router.on(in_state(Booking.vehicle), msg_type("text"), negate(text(*ELSEWHERE)))
def choose_vehicle(msg: Inbound, ctx: Context) -> Reply:
    """A number (or the plate) of one of the bound record's vehicles."""
    vehicles = ctx.conv.data["vehicles"]
    index = parse_choice(msg.content, len(vehicles))
    if index is None:
        typed = booking_chat.fold(msg.content).upper()
        index = next((i for i, (_id, label) in enumerate(vehicles)
                      if typed and typed == booking_chat.fold(str(label).split(" ")[0]).upper()), None)
    if index is None:
        return _render_vehicles(ctx, problem=True)
    ctx.conv.update(vehicle_id=int(vehicles[index][0]), vehicle_label=str(vehicles[index][1]))
    return _ask_service(ctx)


def _ask_service(ctx: Context) -> Reply:
    data = ctx.conv.data
    dealer_id = int(data["dealer_id"])
    offered = booking_chat_offer.services(dealer_id)
    if not offered:
        ctx.conv.clear()
        return ctx.render("booking/no_services.txt", dealer=dealer_cards.dealer_card(dealer_id))
    preset = [s for s in offered if data.get("preset") and s.kind == ServiceKind(str(data["preset"]))]
    if len(preset) == 1 or len(offered) == 1:
        return _service_chosen(ctx, (preset or offered)[0].id)
    ctx.conv.enter(Booking.service, services=[[s.id, s.name] for s in offered])
    return _render_services(ctx)


def _render_services(ctx: Context, problem: bool = False) -> Reply:
    return ctx.render("booking/ask_service.txt", services=[name for _id, name in ctx.conv.data["services"]],
                      vehicle=ctx.conv.data.get("vehicle_label") or "", problem=problem)


@router.on(in_state(Booking.service), msg_type("text"), negate(text(*ELSEWHERE)))
def choose_service(msg: Inbound, ctx: Context) -> Reply:
    """A number or the name of one of the dealer's services."""
    services = ctx.conv.data["services"]
    index = parse_choice(msg.content, len(services))
    if index is None:
        index = next((i for i, (_id, name) in enumerate(services) if norm(name) == norm(msg.content)), None)
    if index is None:
        return _render_services(ctx, problem=True)
    return _service_chosen(ctx, int(services[index][0]))


def _service_chosen(ctx: Context, service_id: int) -> Reply:
    chosen = booking_chat_offer.service(int(ctx.conv.data["dealer_id"]), service_id)
    if chosen is None:
        return _ask_service(ctx)
    ctx.conv.update(service_id=chosen.id, service_name=chosen.name, duration=chosen.duration_minutes, services=[])
    return steps.ask_day(ctx, Booking.day)


# ---- test drive: model and licence ---------------------------------------------------------------

def _ask_model(ctx: Context, dealer_id: int) -> Reply:
    drives = booking_chat_offer.services(dealer_id, test_drive=True)
    models = booking_chat_offer.demo_models(dealer_id) if drives else []
    if not models:
        ctx.conv.clear()
        return ctx.render("booking/no_test_drive.txt", dealer=dealer_cards.dealer_card(dealer_id))
    st = drives[0]
    ctx.conv.update(service_id=st.id, service_name=st.name, duration=st.duration_minutes)
    if len(models) == 1:
        return _model_chosen(ctx, models[0])
    ctx.conv.enter(Booking.model, models=models)
    return ctx.render("booking/ask_model.txt", models=models, problem=False)


@router.on(in_state(Booking.model), msg_type("text"), negate(text(*ELSEWHERE)))
def choose_model(msg: Inbound, ctx: Context) -> Reply:
    """A number or the name of a demo model."""
    models: list[str] = list(ctx.conv.data["models"])
    index = parse_choice(msg.content, len(models))
    if index is None:
        index = next((i for i, m in enumerate(models) if norm(m) == norm(msg.content)), None)
    if index is None:
        return ctx.render("booking/ask_model.txt", models=models, problem=True)
    return _model_chosen(ctx, models[index])


def _model_chosen(ctx: Context, model: str) -> Reply:
    ctx.conv.enter(Booking.licence, model=model, models=[])
    return ctx.render("booking/ask_licence.txt", model=model, problem=False)


@router.on(in_state(Booking.licence), text(*YES_WORDS))
def has_licence(msg: Inbound, ctx: Context) -> Reply:
    """The driver holds a licence: on to the day."""
    ctx.conv.update(licence=True)
    return steps.ask_day(ctx, Booking.day)


@router.on(in_state(Booking.licence), text(*NO_WORDS))
def no_licence(msg: Inbound, ctx: Context) -> Reply:
    """No licence, no test drive: end politely."""
    dealer = dealer_cards.dealer_card(int(ctx.conv.data["dealer_id"]))
    ctx.conv.clear()
    return ctx.render("booking/no_licence.txt", dealer=dealer)


# ---- day, time, mobile, confirm -------------------------------------------------------------------

@router.on(in_state(Booking.day), negate(text(*ELSEWHERE)), any_message())
def choose_day(msg: Inbound, ctx: Context) -> Reply:
    """A day with room."""
    return steps.take_day(msg, ctx, Booking.day, Booking.time)


@router.on(in_state(Booking.time), negate(text(*ELSEWHERE)), any_message())
def choose_time(msg: Inbound, ctx: Context) -> Reply:
    """A free time of the day; then the mobile (without a record) or the summary."""
    instead = steps.other_day(msg, ctx, Booking.day, Booking.time)
    if instead is not None:
        return instead
    chosen = steps.take_time(msg, ctx)
    if not isinstance(chosen, datetime):
        return chosen
    ctx.conv.update(start=chosen.isoformat())
    if ctx.conv.data.get("customer_id") is None and not ctx.conv.data.get("mobile"):
        ctx.conv.enter(Booking.mobile)
        return ctx.render("booking/ask_mobile.txt", problem=False)
    return _summary(ctx)


@router.on(in_state(Booking.mobile), msg_type("text"), negate(text(*ELSEWHERE)))
def take_mobile(msg: Inbound, ctx: Context) -> Reply:
    """An 11-digit mainland mobile to reach the follower."""
    mobile = confirming.mobile(msg.content)
    if mobile is None:
        return ctx.render("booking/ask_mobile.txt", problem=True)
    ctx.conv.update(mobile=mobile)
    return _summary(ctx)


def _summary(ctx: Context, problem: bool = False) -> Reply:
    return confirming.summary(ctx, Booking.confirm, problem)


@router.on(in_state(Booking.confirm), text(*steps.CONFIRM_WORDS))
def confirm(msg: Inbound, ctx: Context) -> Reply:
    """Book it (the request key makes a second tap return the same booking)."""
    return confirming.book(ctx, dict(ctx.conv.data), Booking.time)


@router.on(in_state(Booking.confirm), negate(text(*ELSEWHERE)), any_message())
def confirm_reask(msg: Inbound, ctx: Context) -> Reply:
    """Anything but a confirmation: the summary again."""
    return _summary(ctx, problem=True)


@router.on(in_state(Booking.dealer, Booking.vehicle, Booking.service, Booking.model, Booking.licence,
                    Booking.mobile), negate(text(*ELSEWHERE)), any_message())
def reask(msg: Inbound, ctx: Context) -> Reply:
    """Stray input: ask the current question again."""
    state, data = ctx.conv.state, ctx.conv.data
    if state == Booking.dealer.name:
        return dealers.render(ctx, problem="bad")
    if state == Booking.vehicle.name:
        return _render_vehicles(ctx, problem=True)
    if state == Booking.service.name:
        return _render_services(ctx, problem=True)
    if state == Booking.model.name:
        return ctx.render("booking/ask_model.txt", models=list(data.get("models") or []), problem=True)
    if state == Booking.licence.name:
        return ctx.render("booking/ask_licence.txt", model=data.get("model") or "", problem=True)
    return ctx.render("booking/ask_mobile.txt", problem=True)
