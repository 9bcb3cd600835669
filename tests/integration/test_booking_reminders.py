"""Booking reminders: due and not due at hand-chosen instants, once only, caught up, skipped when stale."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.jobs import booking_jobs, table
from scrm.models import Booking, DeliveryStatus, Role
from scrm.outbox.worker import drain
from scrm.sandbox import state as sandbox
from scrm.services import booking, booking_status
from tests.factories import make_follower, make_staff
from tests.integration.booking_support import SH, at, make_shop, request
from tests.integration.outbox_helpers import all_deliveries, reload_delivery
from tests.integration.test_booking_notify import utc_key

pytestmark = pytest.mark.integration
APP_ID = "wxdemo0000000001"


def local(start: datetime, days: int, hh: int, mm: int = 0) -> datetime:
    """Local Shanghai `hh:mm` `days` days before the local day of `start`."""
    day = start.astimezone(SH).date() - timedelta(days=days)
    return datetime.combine(day, time(hh, mm), SH)


def booked_long_ago(b: Booking, when: datetime) -> None:
    """Pretend the booking was made (and last changed) at `when`."""
    with db.transaction() as s:
        s.execute(sa.update(Booking).where(Booking.id == b.id).values(created_at=when, updated_at=when))


def reminders(booking_id: int) -> list[str]:
    """The reminder kinds written for the booking, oldest first."""
    prefix = f"booking:{booking_id}:remind:"
    return [d.dedupe_key.split(":")[3] for d in all_deliveries() if d.dedupe_key.startswith(prefix)]


@pytest.fixture
def visit(app_ctx: Any) -> dict[str, Any]:
    """A repair visit at 15:00 local in three days, booked a week before, by a follower."""
    shop = make_shop()
    f = make_follower(interaction_kind="message")
    b = booking.book(request(shop, shop.repair, at(15), follower_id=f.id))
    booked_long_ago(b, b.start_at - timedelta(days=7))
    return {"shop": shop, "follower": f, "booking": b}


def test_day_before_at_ten_then_two_hours_before(visit: dict[str, Any]) -> None:
    b = visit["booking"]
    assert booking_jobs.remind(local(b.start_at, 1, 9, 59)) == 0
    assert reminders(b.id) == []
    assert booking_jobs.remind(local(b.start_at, 1, 10, 0)) == 1
    assert booking_jobs.remind(local(b.start_at, 1, 10, 1)) == 0          # a second tick writes nothing
    assert booking_jobs.remind(b.start_at - timedelta(hours=2, minutes=1)) == 0
    assert reminders(b.id) == ["day_before"]
    assert booking_jobs.remind(b.start_at - timedelta(hours=2)) == 1
    assert booking_jobs.remind(b.start_at - timedelta(minutes=30)) == 0
    assert booking_jobs.remind(b.start_at) == 0
    assert reminders(b.id) == ["day_before", "hours_before"]
    rows = [d for d in all_deliveries() if ":remind:" in d.dedupe_key]
    assert rows[0].dedupe_key == f"booking:{b.id}:remind:day_before:{utc_key(b.start_at)}:{visit['follower'].id}"
    assert rows[0].purpose == "transactional"
    day_text = rows[0].payload["custom"]["text"]["content"]
    assert "明天" in day_text and "15:00" in day_text and "/h5/demo/bookings" in day_text
    assert "2 小时" in rows[1].payload["custom"]["text"]["content"]
    assert rows[1].payload["template"]["data"]["thing1"]["value"] == "维修"


def test_catch_up_after_a_gap_sends_only_the_nearest_reminder(visit: dict[str, Any]) -> None:
    b = visit["booking"]
    assert booking_jobs.remind(local(b.start_at, 1, 18, 30)) == 1         # scheduler was down at 10:00
    assert reminders(b.id) == ["day_before"]
    shop, f = visit["shop"], visit["follower"]
    other = booking.book(request(shop, shop.repair, at(16), follower_id=f.id))
    booked_long_ago(other, other.start_at - timedelta(days=7))
    assert booking_jobs.remind(other.start_at - timedelta(minutes=90)) == 2   # down all night: only hours_before
    assert reminders(other.id) == ["hours_before"]                             # ... of each booking
    assert reminders(b.id) == ["day_before", "hours_before"]


def test_late_bookings_skip_reminders_whose_moment_passed(visit: dict[str, Any]) -> None:
    b = visit["booking"]
    booked_long_ago(b, local(b.start_at, 1, 11, 0))                      # booked after 10:00 the day before
    assert booking_jobs.remind(local(b.start_at, 1, 12, 0)) == 0
    assert booking_jobs.remind(b.start_at - timedelta(hours=2)) == 1
    assert reminders(b.id) == ["hours_before"]
    shop, f = visit["shop"], visit["follower"]
    late = booking.book(request(shop, shop.repair, at(16), follower_id=f.id))
    booked_long_ago(late, late.start_at - timedelta(minutes=90))            # less than two hours ahead
    assert booking_jobs.remind(late.start_at - timedelta(minutes=60)) == 0
    assert reminders(late.id) == []


def test_cancelled_and_unsubscribed_get_no_reminder(visit: dict[str, Any]) -> None:
    b, f = visit["booking"], visit["follower"]
    booking_status.cancel(b.id, follower_id=f.id)
    assert booking_jobs.remind(local(b.start_at, 1, 10, 0)) == 0
    shop = visit["shop"]
    gone = make_follower(subscribed=False)
    other = booking.book(request(shop, shop.repair, at(16), follower_id=gone.id, contact_mobile="13900004444"))
    booked_long_ago(other, other.start_at - timedelta(days=7))
    assert booking_jobs.remind(local(other.start_at, 1, 10, 0)) == 0


def test_a_moved_booking_gets_new_reminders_and_the_old_one_is_skipped_at_send_time(
        visit: dict[str, Any], live_server: Any) -> None:
    b, f = visit["booking"], visit["follower"]
    sandbox.add_follower(APP_ID, f.openid, subscribed=True, interaction="message")
    assert booking_jobs.remind(local(b.start_at, 1, 10, 0)) == 1
    [old] = [d for d in all_deliveries() if ":remind:" in d.dedupe_key]
    staff = make_staff(role=Role.DEALER_STAFF, dealer=visit["shop"].dealer)
    moved = booking.move(b.id, at(11, days=4), staff=staff)
    drain()
    row = reload_delivery(old.id)
    assert (row.status, row.result, row.error) == (DeliveryStatus.SKIPPED, "stale", "booking was moved")
    texts = [m for m in sandbox.messages_for(APP_ID, f.openid)]
    assert texts and all("明天" not in str(m) for m in texts)                 # no reminder reached the phone
    assert any("改到新的时间" in str(m) for m in texts)                        # the move notice did
    booked_long_ago(moved, moved.start_at - timedelta(days=7))
    assert booking_jobs.remind(local(moved.start_at, 1, 10, 0)) == 1
    assert reminders(b.id) == ["day_before", "day_before"]                    # a new key: the new start


def test_a_cancelled_booking_reminder_is_skipped_at_send_time(visit: dict[str, Any], live_server: Any) -> None:
    b, f = visit["booking"], visit["follower"]
    sandbox.add_follower(APP_ID, f.openid, subscribed=True, interaction="message")
    assert booking_jobs.remind(local(b.start_at, 1, 10, 0)) == 1
    [old] = [d for d in all_deliveries() if ":remind:" in d.dedupe_key]
    booking_status.cancel(b.id, follower_id=f.id)
    drain()
    row = reload_delivery(old.id)
    assert (row.status, row.error) == (DeliveryStatus.SKIPPED, "booking is now cancelled")
    assert any("已取消" in str(m) for m in sandbox.messages_for(APP_ID, f.openid))


def test_a_due_reminder_reaches_the_phone_as_a_template_outside_the_window(
        visit: dict[str, Any], live_server: Any) -> None:
    b, f = visit["booking"], visit["follower"]
    sandbox.add_follower(APP_ID, f.openid, subscribed=True, interaction=None)
    with db.transaction() as s:
        s.execute(sa.text("UPDATE followers SET last_interaction_at = NULL WHERE id = :id"), {"id": f.id})
        s.execute(sa.text("UPDATE deliveries SET status = 'cancelled'"))        # leave only the reminder
    assert booking_jobs.remind(local(b.start_at, 1, 10, 0)) == 1
    drain()
    [row] = [reload_delivery(d.id) for d in all_deliveries() if ":remind:" in d.dedupe_key]
    assert (row.status, row.channel_used) == (DeliveryStatus.SENT, "template")
    [msg] = sandbox.messages_for(APP_ID, f.openid)
    assert "预约到店提醒" in str(msg) and "维修" in str(msg)


def test_the_job_is_in_the_table() -> None:
    [job] = [j for j in table.JOBS if j.id == "bookings.remind"]
    assert job.func is booking_jobs.remind
    assert job.trigger().interval == timedelta(minutes=1)
