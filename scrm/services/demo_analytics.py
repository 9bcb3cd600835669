"""Demo analytics for `scrm demo`: what makes the analytics pages look alive after the first nightly run:
prospects with stated intent, menu taps, model questions and a location; satisfaction answers (a few low);
owners drifting away; test drives a few days ago without a purchase; and cars bought two weeks ago."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.models import (
    Booking,
    BookingSource,
    BookingStatus,
    Budget,
    BuyTimeline,
    Customer,
    CustomerBinding,
    Dealer,
    DemoCar,
    Direction,
    Follower,
    LeadIntent,
    MessageLog,
    RepairOrder,
    ServiceKind,
    ServiceType,
    Stage,
    Vehicle,
)
from scrm.services import booking_config, booking_slots
from scrm.services.booking_rules import grid

SEED = 20260707
MENU_KEYS = ["BOOK_TEST_DRIVE", "NEARBY_DEALERS", "PROMOTIONS", "CONTACT_DEALER"]
QUESTIONS = ["{model}现在有什么优惠？", "想试驾一下{model}", "{model}落地价多少", "{model}有现车吗"]
NOTES = ["家里第二台车，周末方便看车", "置换旧车，关心补贴", "比较了几家，想再试一次", ""]
CHURN_VISITS = (700, 580, 460)   # days ago: three regular visits, then nothing for over a year


def seed_analytics(s: Session, account_id: int, dealers: list[Dealer], now: datetime) -> dict[str, int]:
    """Add the demo's analytics inputs in the caller's transaction; how many of each were made."""
    rng = random.Random(SEED)
    today = now.date()
    dealer_ids = [d.id for d in dealers]
    models = {d: list(s.scalars(sa.select(DemoCar.model).where(DemoCar.dealer_id == d).distinct()
                                .order_by(DemoCar.model))) or ["极氪001"] for d in dealer_ids}
    return {"intents": _prospects(s, account_id, dealer_ids, models, now, rng),
            "ratings": _ratings(s, dealer_ids, rng),
            "drifting": _drifting(s, dealer_ids, today),
            "test_drives": _test_drives(s, dealers, now),
            "purchases": _purchases(s, account_id, dealer_ids, models, today)}


def _prospect_followers(s: Session, dealer_ids: list[int]) -> list[Follower]:
    """Subscribed followers of the dealers who are not bound to an owner."""
    owner_bound = (sa.select(CustomerBinding.follower_id).join(Customer, Customer.id == CustomerBinding.customer_id)
                   .where(Customer.stage == Stage.OWNER))
    return list(s.scalars(sa.select(Follower).where(
        Follower.dealer_id.in_(dealer_ids), Follower.subscribed.is_(True), Follower.id.not_in(owner_bound))
        .order_by(Follower.id)))


def _prospects(s: Session, account_id: int, dealer_ids: list[int], models: dict[int, list[str]], now: datetime,
               rng: random.Random) -> int:
    """Stated intent for ~15 prospects; menu taps, model questions and a location for more of them."""
    dealers = {d.id: d for d in s.scalars(sa.select(Dealer).where(Dealer.id.in_(dealer_ids)))}
    budgets, timelines = list(Budget), list(BuyTimeline)
    made = 0
    for i, f in enumerate(_prospect_followers(s, dealer_ids)[:30]):
        dealer_id = f.dealer_id if f.dealer_id in dealers else dealer_ids[0]
        model = models[dealer_id][i % len(models[dealer_id])]
        customer_id = s.scalar(sa.select(CustomerBinding.customer_id).where(CustomerBinding.follower_id == f.id)
                               .limit(1))
        if i < 15:
            s.add(LeadIntent(account_id=account_id, dealer_id=dealer_id, follower_id=f.id, customer_id=customer_id,
                             model=model, budget=budgets[(i * 2) % len(budgets)],
                             timeline=timelines[i % len(timelines)], note=NOTES[i % len(NOTES)], source="h5",
                             created_at=now - timedelta(days=i + 1), updated_at=now - timedelta(days=i + 1)))
            made += 1
        for k in range(1 + i % 5):  # the warmest prospects tapped and asked the most
            at = now - timedelta(days=rng.randint(0, 40), minutes=rng.randint(0, 600))
            if k % 2 == 0:
                s.add(MessageLog(account_id=account_id, follower_id=f.id, direction=Direction.IN, msg_type="event",
                                 event="CLICK", content=MENU_KEYS[(i + k) % len(MENU_KEYS)], handler="menu",
                                 created_at=at))
            else:
                s.add(MessageLog(account_id=account_id, follower_id=f.id, direction=Direction.IN, msg_type="text",
                                 content=QUESTIONS[(i + k) % len(QUESTIONS)].format(model=model),
                                 handler="fallback", created_at=at))
        d = dealers[dealer_id]
        if i % 2 == 0 and d.latitude is not None and d.longitude is not None:
            f.latitude = Decimal(d.latitude) + Decimal(rng.randint(-300, 300)) / 10000
            f.longitude = Decimal(d.longitude) + Decimal(rng.randint(-300, 300)) / 10000
            f.location_at = now - timedelta(days=rng.randint(0, 20))
    s.flush()
    return made


def _ratings(s: Session, dealer_ids: list[int], rng: random.Random) -> int:
    """Satisfaction answers on completed bookings without one: mostly 4-5, every fifth a 1 or a 2."""
    rows = s.scalars(sa.select(Booking).where(Booking.dealer_id.in_(dealer_ids),
                                              Booking.status == BookingStatus.COMPLETED,
                                              Booking.satisfaction.is_(None)).order_by(Booking.id)).all()
    for i, b in enumerate(rows):
        b.satisfaction = (1 + i % 2) if i % 5 == 0 else rng.choice([4, 5, 5, 3])
    s.flush()
    return len(rows)


def _drifting(s: Session, dealer_ids: list[int], today: date, per_dealer: int = 3) -> int:
    """Owners who came every four months and then stopped over a year ago, with the warranty ending soon."""
    made = 0
    for dealer_id in dealer_ids:
        one_car = (sa.select(Vehicle.customer_id).where(Vehicle.dealer_id == dealer_id)
                   .group_by(Vehicle.customer_id).having(sa.func.count() == 1))
        vehicles = s.scalars(sa.select(Vehicle).join(Customer, Customer.id == Vehicle.customer_id).where(
            Vehicle.dealer_id == dealer_id, Vehicle.customer_id.in_(one_car), Customer.stage == Stage.OWNER,
            Customer.merged_into_id.is_(None)).order_by(Vehicle.id.desc()).limit(per_dealer)).all()
        for v in vehicles:
            s.execute(sa.delete(RepairOrder).where(RepairOrder.customer_id == v.customer_id))
            for k, days in enumerate(CHURN_VISITS):
                s.add(RepairOrder(account_id=v.account_id, dealer_id=dealer_id, customer_id=v.customer_id,
                                  vehicle_id=v.id, external_id=f"DEMO-CHURN-{v.id}-{k}",
                                  date=today - timedelta(days=days), type="保养", amount=Decimal(680 + 90 * k),
                                  mileage=8000 * (k + 1), advisor="王顾问"))
            v.last_service_date = today - timedelta(days=CHURN_VISITS[-1])
            v.purchase_date = today - timedelta(days=3 * 365 - 20)
            v.warranty_expiry = today + timedelta(days=20)
            made += 1
    s.flush()
    return made


def _test_drives(s: Session, dealers: list[Dealer], now: datetime) -> int:
    """A completed test drive 4 to 8 days ago for two prospects of each dealer, who have not bought since."""
    made = 0
    for dealer in dealers:
        td = s.scalar(sa.select(ServiceType).where(ServiceType.dealer_id == dealer.id,
                                                   ServiceType.kind == ServiceKind.TEST_DRIVE).limit(1))
        car = s.scalar(sa.select(DemoCar).where(DemoCar.dealer_id == dealer.id).order_by(DemoCar.id).limit(1))
        prospects = s.scalars(sa.select(Customer).where(
            Customer.dealer_id == dealer.id, Customer.stage.in_([Stage.PROSPECT, Stage.LEAD]),
            Customer.mobile.is_not(None), Customer.merged_into_id.is_(None)).order_by(Customer.id).limit(2)).all()
        if td is None or car is None:
            continue
        cfg = booking_config.load(s, dealer.id)
        for i, c in enumerate(prospects):
            day = (now.astimezone(cfg.rules.tz) - timedelta(days=4 + 3 * i)).date()
            follower = s.scalar(sa.select(CustomerBinding.follower_id).where(CustomerBinding.customer_id == c.id)
                                .limit(1))
            for _, start in grid(day, cfg.hours_on(day), [], td.duration_minutes, cfg.rules):
                end = start + timedelta(minutes=td.duration_minutes)
                b = Booking(account_id=dealer.account_id, dealer_id=dealer.id, customer_id=c.id, follower_id=follower,
                            service_type_id=td.id, demo_car_id=car.id, start_at=start, end_at=end,
                            slot_minutes=cfg.rules.slot_minutes, status=BookingStatus.COMPLETED,
                            source=BookingSource.H5, contact_name=c.name or "", contact_mobile=c.mobile or "",
                            licence_confirmed=True, request_key=f"demo-td-{dealer.code}-{i}",
                            created_at=start - timedelta(days=2), updated_at=end, completed_at=end)
                caps = {booking_slots.type_resource(td.id): td.capacity, booking_slots.car_resource(car.id): 1}
                if booking_slots.apply(s, dealer.id, booking_slots.held(b), [], caps):
                    s.add(b)
                    made += 1
                    break
    s.flush()
    return made


def _purchases(s: Session, account_id: int, dealer_ids: list[int], models: dict[int, list[str]],
               today: date) -> int:
    """One owner of each dealer who took delivery of a new car 15 days ago."""
    made = 0
    for dealer_id in dealer_ids:
        c = s.scalar(sa.select(Customer).where(
            Customer.dealer_id == dealer_id, Customer.stage == Stage.OWNER, Customer.mobile.is_not(None),
            Customer.merged_into_id.is_(None)).order_by(Customer.id).limit(1))
        if c is None:
            continue
        bought = today - timedelta(days=15)
        s.add(Vehicle(account_id=account_id, dealer_id=dealer_id, customer_id=c.id, model=models[dealer_id][0],
                      brand="", purchase_date=bought, warranty_expiry=bought.replace(year=bought.year + 3)
                      if not (bought.month == 2 and bought.day == 29) else bought + timedelta(days=3 * 365),
                      mileage=300, mileage_date=today))
        made += 1
    s.flush()
    return made
