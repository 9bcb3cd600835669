"""The satisfaction answer in chat, through the real webhook: asked, answered, recorded; other digits untouched."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Booking, Delivery, DeliveryStatus, Role, TimelineEntry
from scrm.outbox.worker import drain
from scrm.sandbox import state as sandbox
from scrm.services import booking, booking_status
from tests.factories import make_follower, make_staff
from tests.integration.binding_support import Chat
from tests.integration.booking_support import at, make_shop, request
from tests.integration.customer_support import bind, make_customer

pytestmark = pytest.mark.integration
APP_ID = "wxdemo0000000001"


def satisfaction(booking_id: int) -> int | None:
    """The stored score."""
    db.session.remove()
    return db.session.scalar(sa.select(Booking.satisfaction).where(Booking.id == booking_id))


@pytest.fixture
def world(client: Any, settings: Any, live_server: Any, app_ctx: Any) -> dict[str, Any]:
    """A follower bound to a customer, with a completed visit whose question has been sent (through the worker)."""
    shop = make_shop()
    c = make_customer(shop.dealer)
    f = make_follower(dealer_id=shop.dealer.id, interaction_kind="message")
    bind(c, f)
    sandbox.add_follower(APP_ID, f.openid, subscribed=True, interaction="message")
    staff = make_staff(role=Role.DEALER_STAFF, dealer=shop.dealer)
    world = {"shop": shop, "customer_id": c.id, "follower_id": f.id, "staff": staff,
             "chat": Chat(client, settings, f.openid), "openid": f.openid}
    world["booking_id"] = visit(world, 9, asked=True)
    return world


def visit(world: dict[str, Any], hour: int, *, asked: bool) -> int:
    """A completed visit of the world's customer; with `asked`, its rating question sent now."""
    shop = world["shop"]
    b = booking.book(request(shop, shop.repair, at(hour), customer_id=world["customer_id"],
                             follower_id=world["follower_id"]))
    booking_status.complete(b.id, world["staff"], now=db.utcnow() - timedelta(hours=3))
    if asked:
        drain()
    return int(b.id)


def test_the_question_reaches_the_phone_and_the_answer_is_recorded(world: dict[str, Any]) -> None:
    phone = [str(m) for m in sandbox.messages_for(APP_ID, world["openid"])]
    assert any("请为本次服务打分：回复 1-5（5 分最满意）" in m for m in phone)
    reply = world["chat"].send("５")                               # full-width digit
    assert "感谢" in reply and "5 分" in reply
    assert satisfaction(world["booking_id"]) == 5


@pytest.mark.parametrize(("answer", "score"), [("五分", 5), ("4分", 4), (" 3 ", 3), ("二", 2)])
def test_answer_forms(world: dict[str, Any], answer: str, score: int) -> None:
    world["chat"].send(answer)
    assert satisfaction(world["booking_id"]) == score


def test_a_second_answer_falls_through(world: dict[str, Any]) -> None:
    world["chat"].send("4")
    second = world["chat"].send("2")
    assert "感谢您的评分" not in second
    assert satisfaction(world["booking_id"]) == 4


def test_scores_out_of_range_are_asked_again(world: dict[str, Any]) -> None:
    for answer in ("6", "0", "10分"):
        assert "1 到 5" in world["chat"].send(answer)
    assert "1 到 5" not in world["chat"].send("12345")              # not a score at all: not ours
    assert satisfaction(world["booking_id"]) is None
    world["chat"].send("5")
    assert satisfaction(world["booking_id"]) == 5


def test_a_low_score_goes_on_the_timeline_for_staff(world: dict[str, Any]) -> None:
    reply = world["chat"].send("1")
    assert "很抱歉" in reply
    assert satisfaction(world["booking_id"]) == 1
    db.session.remove()
    entries = list(db.session.scalars(sa.select(TimelineEntry).where(TimelineEntry.kind == "low_rating")))
    assert [(e.customer_id, e.title, e.detail["booking_id"], e.detail["score"]) for e in entries] == [
        (world["customer_id"], "Low satisfaction rating", world["booking_id"], 1)]


def test_a_good_score_adds_no_low_rating_entry(world: dict[str, Any]) -> None:
    world["chat"].send("3")
    db.session.remove()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TimelineEntry)
                             .where(TimelineEntry.kind == "low_rating")) == 0


def test_digits_without_a_sent_question_are_untouched(world: dict[str, Any]) -> None:
    world["chat"].send("5")                                          # the asked visit is rated now
    later = visit(world, 10, asked=False)                             # completed, question not sent yet
    reply = world["chat"].send("4")
    assert "感谢您的评分" not in reply
    assert satisfaction(later) is None


def test_a_question_older_than_a_week_is_not_answered_by_chat(world: dict[str, Any]) -> None:
    with db.transaction() as s:
        s.execute(sa.update(Delivery).where(Delivery.dedupe_key.like("booking:%:rating:%"))
                  .values(sent_at=db.utcnow() - timedelta(days=8)))
    assert "感谢您的评分" not in world["chat"].send("5")
    assert satisfaction(world["booking_id"]) is None


def test_the_most_recent_question_gets_the_answer(world: dict[str, Any]) -> None:
    newer = visit(world, 11, asked=True)
    with db.transaction() as s:   # the first question went out an hour earlier
        s.execute(sa.update(Delivery).where(Delivery.dedupe_key.like(f"booking:{world['booking_id']}:rating:%"))
                  .values(sent_at=db.utcnow() - timedelta(hours=1)))
    world["chat"].send("4")
    assert (satisfaction(newer), satisfaction(world["booking_id"])) == (4, None)
    world["chat"].send("2")                                          # then the older one
    assert satisfaction(world["booking_id"]) == 2


def test_an_active_conversation_keeps_its_digits(world: dict[str, Any]) -> None:
    assert "确认" in world["chat"].send("解绑")                       # the unbind conversation asks to confirm
    assert "保持" in world["chat"].send("3")                          # its own answer to "anything else"
    assert satisfaction(world["booking_id"]) is None
    world["chat"].send("3")                                          # the conversation is over: now it is a score
    assert satisfaction(world["booking_id"]) == 3


def test_a_question_rated_on_the_h5_page_first_is_not_sent(world: dict[str, Any]) -> None:
    later = visit(world, 10, asked=False)
    booking_status.rate(later, 5, follower_id=world["follower_id"])
    with db.transaction() as s:
        s.execute(sa.update(Delivery).where(Delivery.dedupe_key.like(f"booking:{later}:rating:%"))
                  .values(next_try_at=db.utcnow()))
    drain()
    db.session.remove()
    row = db.session.scalar(sa.select(Delivery).where(Delivery.dedupe_key.like(f"booking:{later}:rating:%")))
    assert row is not None and (row.status, row.error) == (DeliveryStatus.SKIPPED, "booking already rated")
