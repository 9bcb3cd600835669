"""活动 / 我的活动 in the chat and the check-in scan through the real webhook."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import ClubEvent, EventRegistration, EventStatus, PointsEntry, RegistrationStatus
from scrm.services.club import Registered
from scrm.services.club_checkin import CheckIn, Outcome
from scrm.wechat import render
from tests.factories import make_follower
from tests.integration.binding_support import Chat
from tests.integration.test_club_service import make_event, member_id

pytestmark = pytest.mark.integration


def _soon(**kw: Any) -> Any:
    now = db.utcnow()
    values: dict[str, Any] = dict(starts_at=now + timedelta(days=3), ends_at=now + timedelta(days=3, hours=2),
                                  registration_deadline=now + timedelta(days=2))
    values.update(kw)
    return make_event(**values)


def _registration(event_id: int, follower_id: int) -> EventRegistration | None:
    with db.transaction() as s:
        return s.scalar(sa.select(EventRegistration).where(EventRegistration.event_id == event_id,
                                                           EventRegistration.member_id == member_id(follower_id)))


@pytest.fixture
def chat(client: Any, settings: Any) -> tuple[Chat, Any]:
    """A subscribed follower chatting with the demo account."""
    f = make_follower()
    return Chat(client, settings, f.openid), f


def test_list_pick_register_with_companions_and_wrong_answers(chat: tuple[Chat, Any]) -> None:
    c, f = chat
    first = _soon(title="赛道体验日")
    _soon(title="亲子露营", starts_at=db.utcnow() + timedelta(days=5), ends_at=db.utcnow() + timedelta(days=5, hours=3))
    listed = c.send("车主活动")
    assert "近期车主活动" in listed and "1. 赛道体验日" in listed and "2. 亲子露营" in listed
    assert "请回复下面列表中的数字" in c.send("7")                       # out of range: asked again
    shown = c.send("1")
    assert "【赛道体验日】" in shown and "名额：已占 0 / 10" in shown and "回复 1（或「报名」）立即报名" in shown
    assert "请按下面的提示回复" in c.send("随便")                         # not an option: asked again
    assert "您会带几位同伴" in c.send("报名")
    assert "请回复 0 到 2 之间的数字" in c.send("5")                     # over the maximum
    assert "请回复 0 到 2 之间的数字" in c.send("两个")
    done = c.send("2")
    assert "报名成功！「赛道体验日」" in done and "同伴：2 位" in done
    reg = _registration(first.id, f.id)
    assert reg is not None and (reg.status, reg.companions) == (RegistrationStatus.REGISTERED, 2)
    mine = c.send("我的活动")
    assert "我的活动：" in mine and "赛道体验日" in mine and "已报名" in mine


def test_cancel_from_the_event_and_cancel_word_ends(chat: tuple[Chat, Any]) -> None:
    c, f = chat
    ev = _soon(title="洗车沙龙", max_companions=0)
    c.click("CLUB_EVENTS")
    assert "报名成功" in c.send("1") + c.send("1")          # no companions allowed: registered at once
    c.send("活动")
    shown = c.send("1")
    assert "您已报名（同伴 0 位）" in shown and "取消报名" in shown
    assert "已为您取消报名" in c.send("取消报名")
    reg = _registration(ev.id, f.id)
    assert reg is not None and reg.status == RegistrationStatus.CANCELLED
    c.send("活动")
    assert "已取消" in c.send("取消")                           # the global cancel word ends the conversation
    assert "【洗车沙龙】" not in c.send("1")                    # a number no longer picks an event


def test_full_event_puts_on_waitlist_with_position(chat: tuple[Chat, Any]) -> None:
    c, f = chat
    ev = _soon(title="试驾会", capacity=1, max_companions=0)
    other = make_follower()
    Chat(c.client, c.settings, other.openid).send("活动")
    Chat(c.client, c.settings, other.openid).send("1")
    Chat(c.client, c.settings, other.openid).send("1")
    c.send("活动")
    c.send("1")
    assert "候补，排第 1 位" in c.send("报名")
    assert "候补第 1 位" in c.send("我的活动")
    assert _registration(ev.id, f.id) is not None


def test_scan_checks_in_once_with_points_once(chat: tuple[Chat, Any]) -> None:
    c, f = chat
    now = db.utcnow()
    ev = make_event(title="周年庆", starts_at=now + timedelta(minutes=30), ends_at=now + timedelta(hours=3),
                    registration_deadline=now + timedelta(minutes=10), points=80)
    first = c.scan(f"event:{ev.checkin_token}")                  # a walk-in: seats allow
    assert "欢迎参加「周年庆」！签到成功" in first and "奖励 80 积分" in first
    assert "您已在「周年庆」签过到了" in c.scan(f"event:{ev.checkin_token}")
    with db.transaction() as s:
        paid = list(s.scalars(sa.select(PointsEntry.points).where(PointsEntry.member_id == member_id(f.id))))
    assert paid == [80]
    newcomer = Chat(c.client, c.settings, "o_club_newcomer_openid_xxxxx")
    followed = newcomer.follow(f"event:{ev.checkin_token}")      # following through the code checks in too
    assert "签到成功" in followed


def test_scan_too_early_is_told_when_it_opens(chat: tuple[Chat, Any]) -> None:
    c, _f = chat
    ev = _soon(title="早鸟活动")
    reply = c.scan(f"event:{ev.checkin_token}")
    assert "「早鸟活动」将于" in reply and "开放签到" in reply


def _values() -> dict[str, Any]:
    """Real-shaped values for every club reply template."""
    ev = ClubEvent(id=7, title="Track day", place="Pudong", seats_taken=3, capacity=10, points=50, max_companions=2,
                   status=EventStatus.PUBLISHED)
    reg = EventRegistration(id=1, event_id=7, member_id=1, companions=1, status=RegistrationStatus.WAITLISTED)
    return {"account": SimpleNamespace(name="Brand", slug="demo"), "url": "https://x/h5/demo/events",
            "rows": [(ev, "Sat 28 Nov 2026, 14:00", "Pudong store")], "problem": True, "ev": ev,
            "when": "Sat 28 Nov 2026, 14:00",
            "reg": reg, "position": 2, "active": True, "note": "", "most": 2, "promoted": 0,
            "r": Registered(7, RegistrationStatus.WAITLISTED, 1, 2), "message": "This event is not open to you.",
            "params": {}, "opens": "Sat 28 Nov 2026, 12:00", "_checkin": CheckIn(Outcome.TOO_EARLY, "Track day"),
            "_mine": [(ev, reg, 2, "Sat 28 Nov 2026, 14:00")]}


@pytest.mark.parametrize("template", ["ask_companions.txt", "cancelled.txt", "checkin.txt", "error.txt", "event.txt",
                                      "list.txt", "mine.txt", "none.txt", "registered.txt"])
@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_club_reply_renders_in_both_languages(template: str, language: str) -> None:
    values = _values()
    if template == "checkin.txt":
        values["r"] = values["_checkin"]
    if template == "mine.txt":
        values["rows"] = values["_mine"]
    out = render.render(language, f"club/{template}", **values)
    assert out.strip() and "None" not in out and "namespace" not in out
    if language == "en":
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in out), out
    else:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in out), out
