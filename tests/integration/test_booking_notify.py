"""Booking notices: written with the booking (same transaction), to the right followers, with the right words."""

from __future__ import annotations

import dataclasses
from datetime import UTC, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import Booking, Channel, Delivery, DeliveryStatus, Follower, Role
from scrm.sandbox.entities import template_id_for
from scrm.services import booking, booking_status, events_bus
from scrm.services.booking_events import BookingCancelled, BookingConfirmed, event_of
from scrm.services.booking_notify import on_cancelled
from tests.factories import make_follower, make_staff
from tests.integration.booking_support import Shop, at, make_shop, request
from tests.integration.customer_support import bind, make_customer
from tests.integration.outbox_helpers import all_deliveries, override_settings

pytestmark = pytest.mark.integration
APP_ID = "wxdemo0000000001"


def shop_with_address() -> Shop:
    """A test shop whose dealer has a recognisable name, address and phone."""
    shop = make_shop()
    with db.transaction() as s:
        d = s.merge(shop.dealer)
        d.name, d.city, d.address, d.phone = "浦东旗舰店", "上海", "锦绣路100号", "021-66668888"
    return shop


def notices(prefix: str = "booking:") -> list[Delivery]:
    """The booking notices in the outbox, oldest first."""
    return [d for d in all_deliveries() if d.dedupe_key.startswith(prefix)]


def utc_key(value: Any) -> str:
    """An instant as dedupe keys spell it."""
    return str(value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


def text_of(d: Delivery) -> str:
    """The customer-service text of an AUTO notice."""
    return str(d.payload["custom"]["text"]["content"])


def test_confirmation_is_written_with_the_booking(app_ctx: Any) -> None:
    shop = shop_with_address()
    f = make_follower()
    b = booking.book(request(shop, shop.maintenance, at(10), follower_id=f.id))
    [d] = notices()
    assert d.dedupe_key == f"booking:{b.id}:confirmed:{f.id}"
    assert (d.channel, d.purpose, d.follower_id, d.openid, d.dealer_id) == (
        Channel.AUTO, "transactional", f.id, f.openid, shop.dealer.id)
    text = text_of(d)
    local = at(10)
    assert "预约成功" in text and "保养" in text and "浦东旗舰店" in text
    assert "上海锦绣路100号" in text and "021-66668888" in text
    assert f"{local.year}年{local.month}月{local.day}日" in text and "10:00" in text  # local time, not UTC 02:00
    public = runtime.get().settings.app.public_url
    assert f"{public}/h5/demo/bookings" in text
    template = d.payload["template"]
    assert template["template_id"] == template_id_for(APP_ID, "booking_confirmed")
    assert template["url"] == f"{public}/h5/demo/bookings"
    assert template["data"]["thing1"]["value"] == "保养" and template["data"]["thing3"]["value"] == "浦东旗舰店"
    assert "10:00" in template["data"]["time2"]["value"]
    assert d.payload["guard"] == {"kind": "booking", "booking_id": b.id, "status": "confirmed",
                                  "start_at": utc_key(b.start_at)}


def test_a_rolled_back_booking_writes_no_notice(app_ctx: Any) -> None:
    shop = make_shop()
    f = make_follower()

    def boom(s: Any, event: BookingConfirmed) -> None:
        raise RuntimeError("a later subscriber failed")

    events_bus.subscribe(BookingConfirmed, boom, name="test.boom")
    try:
        with pytest.raises(RuntimeError):
            booking.book(request(shop, shop.repair, at(9), follower_id=f.id))
    finally:
        events_bus.unsubscribe(BookingConfirmed, "test.boom")
    db.session.remove()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 0
    assert notices() == []


def test_staff_booking_notifies_the_subscribed_followers_bound_to_the_customer(app_ctx: Any) -> None:
    shop = make_shop()
    c = make_customer(shop.dealer)
    wife, husband, gone = make_follower(), make_follower(), make_follower(subscribed=False)
    stranger = make_follower()
    for f in (wife, husband, gone):
        bind(c, f)
    staff = make_staff(role=Role.DEALER_STAFF, dealer=shop.dealer)
    b = booking.book(request(shop, shop.repair, at(11), customer_id=c.id), staff=staff)
    keys = sorted(d.dedupe_key for d in notices())
    assert keys == sorted(f"booking:{b.id}:confirmed:{f.id}" for f in (wife, husband))
    assert stranger.id not in {d.follower_id for d in notices()}


def test_the_booking_follower_only_and_never_an_unsubscribed_one(app_ctx: Any) -> None:
    shop = make_shop()
    c = make_customer(shop.dealer)
    booker, other = make_follower(), make_follower()
    bind(c, booker)
    bind(c, other)
    booking.book(request(shop, shop.repair, at(9), customer_id=c.id, follower_id=booker.id))
    assert [d.follower_id for d in notices()] == [booker.id]   # the one who booked, not every bound follower
    quiet = make_follower(subscribed=False)
    booking.book(request(shop, shop.repair, at(10), follower_id=quiet.id, contact_mobile="13900002222"))
    assert quiet.id not in {d.follower_id for d in notices()}
    prospect = booking.book(request(shop, shop.repair, at(11), contact_mobile="13900003333"))  # nobody to tell
    assert not any(d.dedupe_key.startswith(f"booking:{prospect.id}:") for d in notices())


def test_moves_and_cancellation_are_each_told_once(app_ctx: Any) -> None:
    shop = make_shop()
    f = make_follower()
    b = booking.book(request(shop, shop.repair, at(9), follower_id=f.id))
    booking.move(b.id, at(14), follower_id=f.id)
    booking.move(b.id, at(15), follower_id=f.id)
    booking_status.cancel(b.id, follower_id=f.id)
    keys = [d.dedupe_key for d in notices()]
    assert keys == [f"booking:{b.id}:confirmed:{f.id}", f"booking:{b.id}:moved:{utc_key(at(14))}:{f.id}",
                    f"booking:{b.id}:moved:{utc_key(at(15))}:{f.id}", f"booking:{b.id}:cancelled:{f.id}"]
    moved = [d for d in notices() if ":moved:" in d.dedupe_key]
    assert "14:00" in text_of(moved[0]) and "15:00" in text_of(moved[1]) and "改到新的时间" in text_of(moved[1])
    cancelled = notices()[-1]
    assert "已取消" in text_of(cancelled) and cancelled.payload["guard"]["status"] == "cancelled"
    # publishing the same event again (a retried handler) writes nothing new
    with db.transaction() as s:
        row = s.get(Booking, b.id)
        assert row is not None
        on_cancelled(s, event_of(BookingCancelled, row))  # type: ignore[arg-type]
    assert len(notices()) == 4


def test_completion_asks_for_a_rating_after_the_configured_delay(app_ctx: Any) -> None:
    shop = shop_with_address()
    f = make_follower()
    staff = make_staff(role=Role.DEALER_STAFF, dealer=shop.dealer)
    b = booking.book(request(shop, shop.repair, at(9), follower_id=f.id))
    done_at = db.utcnow()
    booking_status.complete(b.id, staff, now=done_at)
    [q] = notices(f"booking:{b.id}:rating:")
    assert q.next_try_at == done_at + timedelta(minutes=120) and q.status == DeliveryStatus.PENDING
    text = text_of(q)
    assert "请为本次服务打分：回复 1-5（5 分最满意）" in text
    assert f"/h5/demo/bookings/{b.id}/rate" in text
    assert q.payload["template"]["template_id"] == template_id_for(APP_ID, "booking_rating")
    assert q.payload["guard"] == {"kind": "booking", "booking_id": b.id, "status": "completed", "unrated": True}
    settings = runtime.get().settings
    with override_settings(booking=dataclasses.replace(settings.booking, rating_delay_minutes=30)):
        b2 = booking.book(request(shop, shop.repair, at(10), follower_id=f.id))
        booking_status.complete(b2.id, staff, now=done_at)
    [q2] = notices(f"booking:{b2.id}:rating:")
    assert q2.next_try_at == done_at + timedelta(minutes=30)


def test_an_account_without_templates_writes_chat_text_only(app_ctx: Any) -> None:
    shop = make_shop()
    f = make_follower()
    settings = runtime.get().settings
    bare = dataclasses.replace(settings.accounts["demo"], templates=())
    with override_settings(accounts={**settings.accounts, "demo": bare}):
        booking.book(request(shop, shop.repair, at(9), follower_id=f.id))
    [d] = notices()
    assert "template" not in d.payload and d.payload["custom"]["msgtype"] == "text"


def test_english_account_gets_english_notices(app_ctx: Any) -> None:
    shop = make_shop()
    f = make_follower()
    settings = runtime.get().settings
    english = dataclasses.replace(settings.accounts["demo"], language="en")
    with override_settings(accounts={**settings.accounts, "demo": english}):
        booking.book(request(shop, shop.repair, at(9), follower_id=f.id))
    text = text_of(notices()[0])
    assert "Booking confirmed" in text and "My bookings" in text and "09:00" in text


def test_follower_rows_stay_untouched(app_ctx: Any) -> None:
    """Writing notices reads followers; it never changes them (the window is the worker's business)."""
    shop = make_shop()
    f = make_follower()
    before = db.session.get(Follower, f.id)
    assert before is not None
    snapshot = (before.subscribed, before.cs_sent_since_interaction, before.last_interaction_at)
    booking.book(request(shop, shop.repair, at(9), follower_id=f.id))
    db.session.remove()
    after = db.session.get(Follower, f.id)
    assert after is not None
    assert (after.subscribed, after.cs_sent_since_interaction, after.last_interaction_at) == snapshot


def test_links_are_the_h5_pages(app: Any) -> None:
    """The paths notices link to are the H5 endpoints h5.my_bookings and h5.booking_rate."""
    from flask import url_for

    from scrm.services.booking_notify_text import Facts

    facts = Facts(booking_id=7, account=runtime.get().settings.accounts["demo"], service="", start_local=at(9),
                  completed_local=None, dealer="", address="", phone="", demo_model="")
    public = runtime.get().settings.app.public_url
    with app.test_request_context():
        assert facts.my_bookings_url == public + url_for("h5.my_bookings", slug="demo")
        assert facts.rate_url == public + url_for("h5.booking_rate", slug="demo", booking_id=7)


def test_without_a_template_a_notice_outside_the_window_is_skipped_with_its_reason(app_ctx: Any) -> None:
    from scrm.outbox.worker import drain

    shop = make_shop()
    f = make_follower(last_interaction_at=db.utcnow() - timedelta(days=3), interaction_kind="message")
    settings = runtime.get().settings
    bare = dataclasses.replace(settings.accounts["demo"], templates=())
    with override_settings(accounts={**settings.accounts, "demo": bare}):
        booking.book(request(shop, shop.repair, at(9), follower_id=f.id))
        drain()
    [d] = notices()
    assert (d.status, d.error) == (DeliveryStatus.SKIPPED, "window closed")
