"""Demo customers for `scrm demo`: owners and prospects with vehicles, service history and bindings."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.db import utcnow
from scrm.models import Dealer, Follower
from scrm.models.customer import Customer, CustomerBinding, RepairOrder, Stage, TimelineEntry, Vehicle
from scrm.services.normalize import vin_check_digit

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英",
         "晨", "欣怡"]
MODELS = [("大众", "帕萨特"), ("大众", "ID.4 CROZZ"), ("大众", "途观L"), ("大众", "朗逸"), ("大众", "迈腾")]
PROVINCE = {"SH": "沪", "HZ": "浙"}
SERVICE_TYPES = [("常规保养", 399, 899), ("更换刹车片", 600, 1500), ("空调清洗", 180, 380), ("钣喷", 800, 4800)]


def _vin(rng: random.Random) -> str:
    chars = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    body = "LSV" + "".join(rng.choice(chars) for _ in range(5)) + "0" + "".join(rng.choice(chars) for _ in range(8))
    return body[:8] + vin_check_digit(body) + body[9:]


def seed_customers(s: Session, acc_id: int, dealers: list[Dealer], per_dealer: int = 15) -> int:
    """Add customers with vehicles and repair orders to each dealer; bind a few demo followers."""
    rng = random.Random(7)
    today = utcnow().date()
    count = 0
    for dealer in dealers:
        followers = list(s.scalars(sa.select(Follower).where(Follower.dealer_id == dealer.id,
                                                             Follower.subscribed.is_(True)).limit(5)))
        for i in range(per_dealer):
            name = rng.choice(SURNAMES) + rng.choice(GIVEN)
            owner = i % 4 != 3
            customer = Customer(account_id=acc_id, dealer_id=dealer.id, external_id=f"{dealer.code}-C{i + 1:04d}",
                                name=name, mobile=f"13{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}",
                                city=dealer.city, source=rng.choice(["展厅", "线上", "老客户推荐", "车展"]),
                                stage=Stage.OWNER if owner else Stage.PROSPECT, tags=["试驾过"] if not owner else [])
            s.add(customer)
            s.flush()
            count += 1
            s.add(TimelineEntry(account_id=acc_id, dealer_id=dealer.id, customer_id=customer.id, kind="import.created",
                                title="客户档案已从经销商系统导入", detail={"source": "demo"}))
            if owner:
                _vehicle(s, rng, acc_id, dealer, customer, today)
            if i < len(followers):
                s.add(CustomerBinding(account_id=acc_id, dealer_id=dealer.id, follower_id=followers[i].id,
                                      customer_id=customer.id))
    return count


def _vehicle(s: Session, rng: random.Random, acc_id: int, dealer: Dealer, customer: Customer, today: date) -> None:
    brand, model = rng.choice(MODELS)
    bought = today - timedelta(days=rng.randint(200, 2000))
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    prefix = PROVINCE.get(dealer.code[:2], "沪") + rng.choice("ABCDE")
    if "ID." in model:  # a small new-energy plate: D or F, then five digits
        plate = prefix + rng.choice("DF") + f"{rng.randint(0, 99999):05d}"
    else:
        plate = prefix + f"{rng.randint(0, 9)}{rng.choice(letters)}{rng.randint(100, 999)}"
    vehicle = Vehicle(account_id=acc_id, dealer_id=dealer.id, customer_id=customer.id, vin=_vin(rng), plate=plate,
                      brand=brand, model=model, model_year=bought.year, purchase_date=bought,
                      insurance_expiry=today + timedelta(days=rng.randint(-20, 330)),
                      warranty_expiry=bought + timedelta(days=3 * 365))
    s.add(vehicle)
    s.flush()
    km, day = 0, bought
    for n in range(rng.randint(1, 4)):
        day = day + timedelta(days=rng.randint(150, 330))
        if day >= today:
            break
        km += rng.randint(4000, 9000)
        kind, low, high = rng.choice(SERVICE_TYPES)
        s.add(RepairOrder(account_id=acc_id, dealer_id=dealer.id, customer_id=customer.id, vehicle_id=vehicle.id,
                          external_id=f"{dealer.code}-RO{customer.id:05d}{n}", date=day, type=kind,
                          amount=Decimal(rng.randint(low, high)), mileage=km, advisor="李顾问"))
        vehicle.last_service_date, vehicle.last_service_mileage = day, km
        vehicle.mileage, vehicle.mileage_date = km, day
