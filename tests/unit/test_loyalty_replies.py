"""The loyalty reply templates render in both languages with real values (and say the right things)."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest

from scrm.services.checkin import CheckIn
from scrm.services.loyalty_notify_facts import Figures
from scrm.wechat import render

ACCOUNT = SimpleNamespace(name="Brand", slug="demo")
URL = "https://scrm.example.com/h5/demo/member"


def figures(**kw: Any) -> Figures:
    """A member's figures: 305 points, Silver, 695 to Gold, 20 points expiring on 31 Dec 2026."""
    values: dict[str, Any] = dict(balance=305, tier="Silver", next_tier="Gold", to_next=695, earned_12m=305,
                                  streak=3, best_streak=3, checked_in_today=True, expiring=20,
                                  expiring_on=date(2026, 12, 31), warning_days=30)
    values.update(kw)
    return Figures(**values)


def result(**kw: Any) -> CheckIn:
    """A check-in that paid 5 points and a 20-point bonus for a 7-day streak (bonus every 7 days)."""
    values: dict[str, Any] = dict(member_id=1, day=date(2026, 11, 23), already=False, points=5, bonus=20, streak=7,
                                  best_streak=7, balance=305, bonus_every=7)
    values.update(kw)
    return CheckIn(**values)


def no_chinese(text: str) -> bool:
    """No CJK character in `text`."""
    return not any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_checkin_reply(language: str) -> None:
    text = render.render(language, "loyalty/checkin.txt", account=ACCOUNT, r=result(), fig=figures(), member_url=URL)
    assert f'<a href="{URL}">' in text
    if language == "zh":
        assert "签到成功！+5 积分" in text and "连签奖励：连续签到 7 天，+20 积分！" in text
        assert "再连续签到 7 天可得连签奖励" in text and "会员等级：Silver" in text
    else:
        assert "Checked in! +5 points" in text and "Streak bonus: +20 points for 7 days in a row!" in text
        assert "Days to the next streak bonus: 7" in text and no_chinese(text)


def test_already_checked_in_pays_nothing_and_without_a_bonus_rule_no_countdown() -> None:
    text = render.render("zh", "loyalty/checkin.txt", account=ACCOUNT, member_url=URL, fig=figures(),
                         r=result(already=True, points=0, bonus=0, streak=2, bonus_every=0))
    assert "今天已经签过到了" in text and "+" not in text and "连签奖励" not in text and "连续签到 2 天" in text


@pytest.mark.parametrize("language", ["zh", "en"])
def test_points_reply(language: str) -> None:
    text = render.render(language, "loyalty/points.txt", account=ACCOUNT, fig=figures(), member_url=URL,
                         expiring_on="31 Dec 2026")
    if language == "zh":
        assert "再得 695 积分即可升级为Gold" in text and "20 积分将于 31 Dec 2026 过期" in text
    else:
        assert "695 more points to Gold" in text and "20 points expire on 31 Dec 2026" in text and no_chinese(text)
    top = render.render(language, "loyalty/points.txt", account=ACCOUNT, member_url=URL, expiring_on="",
                        fig=figures(next_tier="", to_next=0, expiring=0, expiring_on=None, checked_in_today=False))
    assert ("最高等级" in top or "top tier" in top) and "31 Dec" not in top


@pytest.mark.parametrize("template", ["not_subscribed.txt", "centre_title.txt", "centre_description.txt",
                                      "_standing.txt"])
@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_small_templates_render(template: str, language: str) -> None:
    text = render.render(language, f"loyalty/{template}", account=ACCOUNT, fig=figures())
    assert text.strip() and "None" not in text
    assert no_chinese(text) if language == "en" else not no_chinese(text)
