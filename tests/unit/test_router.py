"""Routers and filters, the dispatcher's order, and its error handling (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from scrm import metrics
from scrm.config import AccountSettings
from scrm.wechat.conversation import Conversation, State, StateGroup
from scrm.wechat.dispatcher import Dispatcher
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import TextReply
from scrm.wechat.router import (
    Context,
    Router,
    any_message,
    any_of,
    click,
    event,
    in_group,
    in_state,
    msg_type,
    negate,
    no_state,
    text,
)

ACCOUNT = AccountSettings(slug="demo", name="测试品牌", app_id="wx1", app_secret="s", token="tok")


class Quiz(StateGroup):
    ask = State()
    answer = State()


def ctx(state: str = "", language: str = "zh") -> Context:
    return Context(account=ACCOUNT, account_id=1, follower=None, conv=Conversation(state=state), language=language)


def text_in(content: str) -> Inbound:
    return Inbound(account_slug="demo", openid="oUser", to_user="gh", create_time=1, msg_type="text",
                   content=content, msg_id="1")


def event_in(name: str, key: str = "") -> Inbound:
    return Inbound(account_slug="demo", openid="oUser", to_user="gh", create_time=1, msg_type="event",
                   event=name, key=key)


def test_state_names_are_group_colon_step() -> None:
    assert Quiz.ask.name == "quiz:ask" and str(Quiz.answer) == "quiz:answer"
    assert Quiz.group == "quiz"
    assert {s.name for s in Quiz.states()} == {"quiz:ask", "quiz:answer"}

    class Named(StateGroup, group="booking"):
        pick_time = State()

    assert Named.pick_time.name == "booking:pick_time"


def test_text_filter_normalises_case_width_and_spaces() -> None:
    f = text("帮助", "help", "?")
    c = ctx()
    for ok in ("帮助", " help ", "HELP", "ＨＥＬＰ", "？", "?"):
        assert f(text_in(ok), c), ok
    for no in ("帮助我", "helpme", ""):
        assert not f(text_in(no), c), no
    assert not f(event_in("click", "help"), c)


def test_event_click_and_type_filters() -> None:
    c = ctx()
    assert event("SCAN", "subscribe")(event_in("scan"), c)
    assert not event("scan")(text_in("scan"), c)
    assert click("A")(event_in("click", "A"), c)
    assert not click("A")(event_in("click", "B"), c)
    assert click()(event_in("click", "anything"), c)
    assert msg_type("text")(text_in("x"), c) and not msg_type("image")(text_in("x"), c)
    assert any_message()(text_in("x"), c) and not any_message()(event_in("click"), c)
    assert any_of(click("A"), text("x"))(text_in("x"), c)
    assert negate(text("x"))(text_in("y"), c)


def test_state_filters() -> None:
    assert in_state(Quiz.ask)(text_in("x"), ctx("quiz:ask"))
    assert not in_state(Quiz.ask)(text_in("x"), ctx("quiz:answer"))
    assert in_group(Quiz)(text_in("x"), ctx("quiz:answer"))
    assert no_state()(text_in("x"), ctx())
    assert not no_state()(text_in("x"), ctx("quiz:ask"))


def test_first_matching_route_wins_and_matching_does_not_run_handlers() -> None:
    ran: list[str] = []
    r = Router("t")

    @r.on(text("a"))
    def first(m: Inbound, c: Context) -> TextReply:
        ran.append("first")
        return TextReply("1")

    @r.on(any_message())
    def second(m: Inbound, c: Context) -> TextReply:
        ran.append("second")
        return TextReply("2")

    route = r.match(text_in("a"), ctx())
    assert route is not None and route.name == "t.first"
    assert ran == []
    assert r.match(text_in("b"), ctx()).name == "t.second"  # type: ignore[union-attr]
    assert r.match(event_in("click"), ctx()) is None


def _router(name: str, reply: str, *filters: Any, states: type[StateGroup] | None = None) -> Router:
    r = Router(name, states=states)
    r.on(*filters)(lambda m, c: TextReply(reply))
    return r


def test_dispatcher_asks_common_first_then_the_active_conversation_then_the_rest() -> None:
    common = _router("common", "cancelled", text("取消"))
    catch_all = _router("fallback", "fallback", any_message())
    quiz = Router("quiz", states=Quiz)
    quiz.on(in_state(Quiz.ask))(lambda m, c: TextReply("answer noted"))
    d = Dispatcher([common, catch_all, quiz])
    assert d.dispatch(text_in("42"), ctx()).reply == TextReply("fallback")
    assert d.dispatch(text_in("42"), ctx("quiz:ask")).reply == TextReply("answer noted")
    assert d.dispatch(text_in("取消"), ctx("quiz:ask")).reply == TextReply("cancelled")


def test_state_of_an_unknown_group_is_dropped() -> None:
    d = Dispatcher([_router("fallback", "fallback", any_message())])
    c = ctx("gone:step")
    assert d.dispatch(text_in("x"), c).reply == TextReply("fallback")
    assert c.conv.state == "" and c.conv.changed


def test_no_match_means_no_reply() -> None:
    outcome = Dispatcher([_router("fallback", "fallback", any_message())]).dispatch(event_in("view"), ctx())
    assert outcome.reply is None and outcome.handler == "" and not outcome.error


def test_a_failing_handler_becomes_an_apology_and_is_counted() -> None:
    r = Router("boom")

    @r.on(any_message())
    def explode(m: Inbound, c: Context) -> TextReply:
        raise RuntimeError("kaput")

    before = metrics.HANDLER_ERRORS.labels(handler="boom.explode")._value.get()
    outcome = Dispatcher([r]).dispatch(text_in("x"), ctx())
    assert outcome.error and outcome.handler == "boom.explode"
    assert isinstance(outcome.reply, TextReply) and "稍后再试" in outcome.reply.content
    assert metrics.HANDLER_ERRORS.labels(handler="boom.explode")._value.get() == before + 1
    en = Dispatcher([r]).dispatch(text_in("x"), ctx(language="en"))
    assert en.reply == TextReply("Sorry, something went wrong on our side. Please try again in a moment.")


def test_a_failing_filter_is_caught_too() -> None:
    r = Router("bad")
    r.on(lambda m, c: 1 / 0 > 0)(lambda m, c: TextReply("never"))
    outcome = Dispatcher([r]).dispatch(text_in("x"), ctx())
    assert outcome.error and outcome.reply is not None


@pytest.mark.parametrize("group", ["a:b"])
def test_group_names_cannot_contain_colons(group: str) -> None:
    with pytest.raises(ValueError):
        type("Bad", (StateGroup,), {}, group=group)


# ---- gates: a route is skipped for a push only when one of its filters could never pass it ----

_TYPES = ("text", "image", "voice", "video", "shortvideo", "location", "link", "event", "miniprogrampage")
_EVENTS = ("", "click", "subscribe", "unsubscribe", "scan", "view", "location", "scancode_push",
           "templatesendjobfinish")
_STATES = ("", "quiz:ask", "quiz:answer", "other:step")
_GATED = {
    "text": text("帮助", "Help"), "msg_type": msg_type("text", "location"), "any_message": any_message(),
    "event": event("SUBSCRIBE", "scan"), "click": click("K1"), "click_any": click(),
    "in_state": in_state(Quiz.ask), "in_group": in_group(Quiz), "no_state": no_state(),
    "any_of": any_of(text("预约"), click("BOOK")),
}


def _pushes() -> list[Inbound]:
    out = []
    for t in _TYPES:
        for e in _EVENTS if t == "event" else ("",):
            for content in ("帮助", "ＨＥＬＰ ", "预约", "别的"):
                for key in ("", "K1", "BOOK"):
                    out.append(Inbound(account_slug="demo", openid="o1", to_user="gh", create_time=1, msg_type=t,
                                       event=e, content=content if t == "text" else "", key=key))
    return out


@pytest.mark.parametrize("name", list(_GATED))
def test_a_filter_passes_only_pushes_its_gate_admits(name: str) -> None:
    accepts = _GATED[name]
    gate = accepts.gate  # type: ignore[attr-defined]
    passed = 0
    for msg in _pushes():
        for state in _STATES:
            if accepts(msg, ctx(state)):
                passed += 1
                assert gate(msg.msg_type, msg.event, state), (name, msg.msg_type, msg.event, state)
    assert passed  # the grid reaches every filter at least once


def test_filters_that_cannot_be_gated_are_always_asked() -> None:
    assert not hasattr(negate(text("x")), "gate")
    assert not hasattr(any_of(text("x"), lambda m, c: True), "gate")


def test_a_router_skips_routes_a_push_cannot_reach_and_still_finds_the_first_match() -> None:
    asked: list[str] = []
    r = Router("gated")

    def counting(label: str) -> Any:
        def accepts(m: Inbound, c: Context) -> bool:
            asked.append(label)
            return True
        return accepts

    @r.on(event("subscribe"), counting("subscribe"))
    def on_subscribe(m: Inbound, c: Context) -> TextReply:
        return TextReply("s")

    @r.on(in_state(Quiz.ask), counting("quiz"))
    def on_quiz(m: Inbound, c: Context) -> TextReply:
        return TextReply("q")

    @r.on(counting("any"))
    def on_any(m: Inbound, c: Context) -> TextReply:
        return TextReply("a")

    msg = Inbound(account_slug="demo", openid="o1", to_user="gh", create_time=1, msg_type="text", content="hi")
    assert r.match(msg, ctx()).name == "gated.on_any"  # type: ignore[union-attr]
    assert asked == ["any"]
    assert r.match(msg, ctx("quiz:ask")).name == "gated.on_quiz"  # type: ignore[union-attr]
    assert asked == ["any", "quiz"]


def _first_by_scan(r: Router, msg: Inbound, c: Context) -> str | None:
    """The first route whose filters all pass, asking every route: what the indexes must reproduce."""
    return next((route.name for route in r.routes if all(f(msg, c) for f in route.filters)), None)


def test_a_text_push_is_asked_only_of_routes_its_words_can_reach_and_finds_the_same_first_match() -> None:
    r = Router("words")
    asked: list[str] = []

    def seen(label: str) -> Any:
        def accepts(m: Inbound, c: Context) -> bool:
            asked.append(label)
            return True
        return accepts

    def reply(m: Inbound, c: Context) -> TextReply:
        return TextReply("x")

    r.on(text("帮助", "Help"), seen("help"))(reply)
    r.on(text("预约"), in_state(Quiz.ask), seen("book-in-quiz"))(reply)
    r.on(any_of(text("甲"), text("乙")), seen("either"))(reply)
    r.on(text("甲"), text("乙"), seen("never"))(reply)  # both words at once: no text passes
    r.on(negate(text("预约")), seen("not-book"))(reply)
    r.on(any_of(text("丙"), click("K")), seen("mixed"))(reply)
    r.on(seen("any"))(reply)
    for content in ("帮助", "ＨＥＬＰ ", "预约", "甲", "乙", "丙", "别的", ""):
        for state in _STATES:
            c, msg = ctx(state), text_in(content)
            expected = _first_by_scan(r, msg, c)
            asked.clear()
            found = r.match(msg, c)
            assert (found.name if found else None) == expected, (content, state)
            assert "never" not in asked
            if content in ("别的", ""):  # no route naming words was asked
                assert asked == ["not-book"], (content, state, asked)


def test_outside_a_conversation_the_dispatcher_keeps_the_routers_order_across_word_and_any_text_routes() -> None:
    first = _router("first", "any text", msg_type("text"))
    worded = _router("worded", "worded", text("价格"))
    d = Dispatcher([worded, first])
    assert d.dispatch(text_in(" 价格 "), ctx()).reply == TextReply("worded")  # normalised like Router.match
    assert d.dispatch(text_in("别的"), ctx()).reply == TextReply("any text")
    d2 = Dispatcher([first, worded])
    assert d2.dispatch(text_in("价格"), ctx()).reply == TextReply("any text")
    # The flat index equals asking each router in turn, for words, other text and events alike.
    for msg in (text_in("价格"), text_in("别的"), event_in("click", "K"), event_in("view")):
        one_by_one = next((m for m in (r.match(msg, ctx()) for r in d2.routers) if m is not None), None)
        assert (d2.dispatch(msg, ctx()).handler or None) == (one_by_one.name if one_by_one else None)


def test_a_route_registered_after_the_dispatcher_indexed_a_shape_is_asked() -> None:
    late = Router("late")
    d = Dispatcher([late, _router("fallback", "fallback", any_message())])
    assert d.dispatch(text_in("价格"), ctx()).reply == TextReply("fallback")
    assert d.dispatch(event_in("click", "K"), ctx()).reply is None
    late.on(text("价格"))(lambda m, c: TextReply("late price"))
    late.on(click("K"))(lambda m, c: TextReply("late click"))
    assert d.dispatch(text_in("价格"), ctx()).reply == TextReply("late price")
    assert d.dispatch(event_in("click", "K"), ctx()).reply == TextReply("late click")
