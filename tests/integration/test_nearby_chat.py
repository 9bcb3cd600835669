"""附近门店 through the real webhook: a location message, the silent LOCATION event, and how old a position may be."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Follower
from tests.factories import make_dealer, make_follower
from tests.integration.chat_booking_support import PEOPLES_SQUARE, Chat, follower_row

pytestmark = pytest.mark.integration


def _dealer(name: str, lat: float, lng: float, **kw: Any) -> Any:
    return make_dealer(name=name, latitude=Decimal(str(lat)), longitude=Decimal(str(lng)),
                       address=f"{name}路1号", phone="021-12345678", **kw)


@pytest.fixture
def dealers(app: Any) -> dict[str, Any]:
    """Six dealers around People's Square at growing distances, one closed, one without coordinates."""
    rows = {name: _dealer(name, PEOPLES_SQUARE[0] + dlat, PEOPLES_SQUARE[1])
            for name, dlat in (("一号店", 0.01), ("二号店", 0.02), ("三号店", 0.05), ("四号店", 0.10),
                               ("五号店", 0.20), ("六号店", 0.40))}
    rows["停业店"] = _dealer("停业店", PEOPLES_SQUARE[0], PEOPLES_SQUARE[1], active=False)
    rows["无坐标店"] = make_dealer(name="无坐标店")
    return rows


def test_a_location_message_lists_the_five_nearest(client: Any, settings: Any, dealers: dict[str, Any]) -> None:
    f = make_follower()
    chat = Chat(client, settings, f.openid)
    listed = chat.location(*PEOPLES_SQUARE)
    names = ["一号店", "二号店", "三号店", "四号店", "五号店"]
    assert [listed.index(n) for n in names] == sorted(listed.index(n) for n in names)   # nearest first
    assert "六号店" not in listed and "停业店" not in listed and "无坐标店" not in listed
    assert "1. 一号店 · 1.1 公里" in listed and "2. 二号店 · 2.2 公里" in listed
    assert "地址：上海一号店路1号" in listed and "电话：021-12345678" in listed
    assert f"/h5/demo/book?dealer={dealers['一号店'].id}" in listed
    row = follower_row(f.id)
    assert row.latitude == Decimal("31.230400") and row.location_at is not None   # the position is kept


def test_nearby_without_a_position_asks_for_one(client: Any, settings: Any, dealers: dict[str, Any]) -> None:
    chat = Chat(client, settings, make_follower().openid)
    asked = chat.click("NEARBY_DEALERS")
    assert "发送您的位置" in asked and "“+”" in asked
    assert "发送您的位置" in chat.send("附近门店")


def test_the_location_event_is_silent_but_used(client: Any, settings: Any, dealers: dict[str, Any]) -> None:
    chat = Chat(client, settings, make_follower().openid)
    assert chat.location_event(PEOPLES_SQUARE[0] + 0.40, PEOPLES_SQUARE[1]) == ""
    listed = chat.send("门店")
    assert listed.startswith("您附近的门店") and listed.index("六号店") < listed.index("五号店")


def test_a_position_older_than_a_day_is_not_used(client: Any, settings: Any, dealers: dict[str, Any]) -> None:
    f = make_follower()
    chat = Chat(client, settings, f.openid)
    chat.location_event(*PEOPLES_SQUARE)
    with db.transaction() as s:
        s.execute(sa.update(Follower).where(Follower.id == f.id)
                  .values(location_at=db.utcnow() - timedelta(hours=25)))
    assert "发送您的位置" in chat.send("附近门店")


def test_an_unusable_location_asks_again(client: Any, settings: Any, dealers: dict[str, Any]) -> None:
    f = make_follower()
    chat = Chat(client, settings, f.openid)
    reply = chat.location(0, 0)
    assert "无法识别该位置" in reply and follower_row(f.id).location_at is None


def test_no_dealer_with_a_position(client: Any, settings: Any) -> None:
    make_dealer(name="无坐标店")
    chat = Chat(client, settings, make_follower().openid)
    assert "暂时还没有门店登记位置信息" in chat.location(*PEOPLES_SQUARE)
