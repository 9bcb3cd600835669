"""Helpers for the booking chat tests: a chat that can also send a location, shops with coordinates, rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from scrm import db
from scrm.models import Booking, BookingSettings, Dealer, Follower
from tests import wechat_xml as wx
from tests.integration.binding_support import Chat as BindingChat
from tests.integration.booking_support import Shop, make_shop

PEOPLES_SQUARE = (31.2304, 121.4737)  # 人民广场, Shanghai


@dataclass
class Chat(BindingChat):
    """The binding tests' chat, plus location messages and LOCATION events."""

    def location(self, latitude: float, longitude: float, label: str = "上海市黄浦区") -> str:
        return self.post(wx.build(self.openid, "location", Location_X=latitude, Location_Y=longitude, Scale=15,
                                  Label=label, MsgId=wx.next_msg_id()))

    def location_event(self, latitude: float, longitude: float) -> str:
        return self.post(wx.location_event(self.openid, latitude, longitude))


def shop_at(latitude: float | None, longitude: float | None, **dealer: Any) -> Shop:
    """A booking shop (booking_support.make_shop) whose dealer has these coordinates and fields."""
    shop = make_shop()
    values: dict[str, Any] = dict(dealer)
    if latitude is not None and longitude is not None:
        values.update(latitude=Decimal(str(latitude)), longitude=Decimal(str(longitude)))
    if values:
        with db.transaction() as s:
            s.execute(sa.update(Dealer).where(Dealer.id == shop.dealer.id).values(**values))
    return shop


def chat_day(d: date) -> str:
    """How a follower types a day: "11月25日"."""
    return f"{d.month}月{d.day}日"


def bookings() -> list[Booking]:
    """Every booking row, oldest first."""
    db.session.remove()
    with db.transaction() as s:
        return list(s.scalars(sa.select(Booking).order_by(Booking.id)))


def follower_row(follower_id: int) -> Follower:
    """A follower row, fresh."""
    with db.transaction() as s:
        f = s.get(Follower, follower_id)
        assert f is not None
        return f


def set_rules(dealer_id: int, **values: Any) -> None:
    """Change a dealer's booking settings."""
    with db.transaction() as s:
        s.execute(sa.update(BookingSettings).where(BookingSettings.dealer_id == dealer_id).values(**values))
