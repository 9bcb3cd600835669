"""Erasure and export cover bookings: upcoming ones are cancelled with their slots freed, every booking
loses its contact details, a booked vehicle can still be deleted, and the export lists them."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import sqlalchemy as sa

from scrm import db
from scrm.models import Booking, BookingStatus, Role, SlotUse
from scrm.services.booking import book
from scrm.services.privacy_erase import erase_customer
from scrm.services.privacy_export import export_customer
from tests.factories import make_staff
from tests.integration.booking_support import assert_slot_invariant, at, make_shop, request
from tests.integration.customer_support import make_customer, make_vehicle


def test_erasure_cancels_upcoming_bookings_and_blanks_contacts(app_ctx: Any) -> None:
    shop = make_shop()
    manager = make_staff(Role.DEALER_MANAGER, dealer=shop.dealer)
    c = make_customer(shop.dealer, name="吴九", mobile="13600136000")
    v = make_vehicle(c, plate="沪B11111")
    other = make_customer(shop.dealer, name="郑十")
    mine = book(request(shop, shop.maintenance, at(9), customer_id=c.id, vehicle_id=v.id, note="刹车异响"))
    theirs = book(request(shop, shop.maintenance, at(9), customer_id=other.id, contact_name="郑十"))
    assert db.session.scalar(sa.select(sa.func.sum(SlotUse.used))) == 4      # two bookings x two 30-minute slots

    data = json.loads(zipfile.ZipFile(io.BytesIO(export_customer(manager, c.id, "客户要求").data))
                      .read("customer.json"))
    assert [b["note"] for b in data["bookings"]] == ["刹车异响"] and data["bookings"][0]["service"] == "保养"

    req = erase_customer(manager, c.id, confirm=str(c.id), reason="客户要求删除")
    assert req.detail["counts"]["bookings_cancelled"] == 1
    db.session.remove()
    gone = db.session.get(Booking, mine.id)
    assert gone is not None and gone.status == BookingStatus.CANCELLED
    assert (gone.contact_name, gone.contact_mobile, gone.note, gone.vehicle_id) == ("", "", "", None)
    kept = db.session.get(Booking, theirs.id)
    assert kept is not None and kept.status == BookingStatus.CONFIRMED and kept.contact_name == "郑十"
    assert db.session.scalar(sa.select(sa.func.sum(SlotUse.used))) == 2       # the erased one's slots are free
    assert_slot_invariant(shop.dealer.id)
