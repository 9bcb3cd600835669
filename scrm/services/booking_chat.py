"""Pure helpers of the booking conversation: numbered choices, answers typed in chat, and labels.

Answers are forgiving: full-width digits and colons ("２", "10：30"), "第2个", dates like "11月25日",
"11-25", "25号", "明天", "周三", "下周一", and times like "10:30", "10点半", "下午2点", "2pm".
No I/O here: days and times in, days and times out.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import TypeVar

T = TypeVar("T")
PAGE_SIZE = 7  # days listed at once; "更多" shows the next ones

_ZH_WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_EN_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
_WEEKDAY_WORDS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5,
                  "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}
_RELATIVE = {"今天": 0, "今日": 0, "today": 0, "明天": 1, "明日": 1, "tomorrow": 1, "后天": 2, "大后天": 3}

_CHOICE = re.compile(r"(?:第|no\.?\s*|#)?(\d{1,3})(?:个|项|个选项)?[.。、)）]?")
_FULL_DATE = re.compile(r"(?:(\d{4})[年/.\-])?(\d{1,2})[月/.\-](\d{1,2})[日号]?(?:\s*(?:周|星期|礼拜).)?")
_DAY_ONLY = re.compile(r"(\d{1,2})[日号]")
_WEEKDAY = re.compile(r"(下下|下个?|这个?|本)?(?:周|星期|礼拜)(.)")
_TIME = re.compile(r"(上午|早上|早晨|中午|下午|晚上|傍晚)?(\d{1,2})(?:([:.])(\d{2})|(点|时)(半|\d{1,2})?分?)?"
                   r"(am|pm|a\.m\.|p\.m\.)?")


@dataclass(frozen=True)
class DayOption:
    """A day that has room, and how many start times are free on it."""

    day: date
    free: int


def fold(text: str) -> str:
    """Full-width folded, lower-case, without surrounding or inner spaces."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def parse_choice(text: str, count: int) -> int | None:
    """The 0-based index of a numbered answer ("2", "２", "第2个") among `count` choices, else None."""
    m = _CHOICE.fullmatch(fold(text))
    if m is None:
        return None
    n = int(m.group(1))
    return n - 1 if 1 <= n <= count else None


def is_number(text: str) -> bool:
    """Whether the answer is a bare number (a choice, maybe out of range)."""
    return _CHOICE.fullmatch(fold(text)) is not None


def _zh_number(text: str) -> str:
    """Chinese numerals up to 99 ("十一", "两", "二十") as digits, inside any text."""
    def one(m: re.Match[str]) -> str:
        s = m.group(0)
        if "十" not in s:
            return "".join(str(_ZH_DIGITS[c]) for c in s)
        tens, _, units = s.partition("十")
        return str((_ZH_DIGITS[tens] if tens else 1) * 10 + (_ZH_DIGITS[units] if units else 0))
    return re.sub(r"[零〇一二两三四五六七八九]?十[一二三四五六七八九]?|[零〇一二两三四五六七八九]+", one, text)


def _next_on_or_after(day: date, today: date, step: str) -> date:
    """`day` moved a year (or a month) forward when it already passed."""
    if day >= today:
        return day
    if step == "year":
        return day.replace(year=day.year + 1)
    month = day.month % 12 + 1
    return day.replace(year=day.year + (day.month == 12), month=month)


def parse_day(text: str, today: date) -> date | None:
    """The day an answer names ("11月25日", "11-25", "25号", "明天", "周三", "下周一"), else None."""
    s = fold(text)
    if s in _RELATIVE:
        return today + timedelta(days=_RELATIVE[s])
    try:
        m = _FULL_DATE.fullmatch(s)
        if m is not None:
            year = int(m.group(1)) if m.group(1) else today.year
            found = date(year, int(m.group(2)), int(m.group(3)))
            return found if m.group(1) else _next_on_or_after(found, today, "year")
        m = _DAY_ONLY.fullmatch(_zh_number(s))
        if m is not None:
            return _next_on_or_after(today.replace(day=int(m.group(1))), today, "month")
    except ValueError:
        return None
    m = _WEEKDAY.fullmatch(s)
    if m is not None and m.group(2) in _WEEKDAY_WORDS:
        wanted = _WEEKDAY_WORDS[m.group(2)]
        prefix = m.group(1) or ""
        if prefix.startswith("下"):
            monday = today - timedelta(days=today.weekday()) + timedelta(weeks=2 if prefix == "下下" else 1)
            return monday + timedelta(days=wanted)
        return today + timedelta(days=(wanted - today.weekday()) % 7)
    return None


def parse_time(text: str) -> time | None:
    """The clock time an answer names ("10:30", "10点半", "下午2点", "2pm"), else None.

    A bare number is a choice, not a time. Without 上午/下午, hours 1-7 mean the afternoon (dealers
    are not open at 2 a.m.).
    """
    s = _zh_number(fold(text).replace("一刻", "15").replace("三刻", "45"))
    m = _TIME.fullmatch(s)
    if m is None or not (m.group(3) or m.group(5) or m.group(7) or m.group(1)):
        return None
    hour = int(m.group(2))
    if m.group(3):
        minute = int(m.group(4))
    else:
        part = m.group(6) or ""
        minute = 30 if part == "半" else int(part or 0)
    marker, suffix = m.group(1) or "", (m.group(7) or "").replace(".", "")
    later = marker in ("下午", "晚上", "傍晚") or suffix == "pm"
    if (later and hour < 12) or (marker == "中午" and hour < 3) or (not marker and not suffix and 1 <= hour <= 7):
        hour += 12
    elif suffix == "am" and hour == 12:
        hour = 0
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return time(hour, minute)


def day_options(days: Sequence[tuple[date, int]]) -> list[DayOption]:
    """Days that have at least one free start, in order."""
    return [DayOption(d, n) for d, n in days if n > 0]


def page(items: Sequence[T], number: int, size: int = PAGE_SIZE) -> tuple[list[T], bool]:
    """The `number`-th (0-based) page of `items` and whether more follow."""
    start = max(0, number) * size
    return list(items[start:start + size]), len(items) > start + size


def halves(times: Sequence[time]) -> tuple[list[tuple[int, time]], list[tuple[int, time]]]:
    """Numbered (1-based) times split into the morning (before 12:00) and the afternoon."""
    numbered = list(enumerate(times, start=1))
    return [(n, t) for n, t in numbered if t < time(12)], [(n, t) for n, t in numbered if t >= time(12)]


def day_label(day: date, language: str) -> str:
    """"11月25日 周三" in Chinese, "Wed 25 Nov" in English."""
    if language.startswith("zh"):
        return f"{day.month}月{day.day}日 {_ZH_WEEKDAYS[day.weekday()]}"
    return f"{_EN_WEEKDAYS[day.weekday()]} {day.day} {_EN_MONTHS[day.month - 1]}"


def time_label(t: time) -> str:
    """"10:30"."""
    return f"{t.hour:02d}:{t.minute:02d}"


def km_label(km: float) -> str:
    """A distance with one decimal ("2.3"), at least "0.1"."""
    return f"{max(km, 0.1):.1f}"


def duration_label(minutes: int, language: str) -> str:
    """"1小时30分钟" / "1 h 30 min"."""
    h, m = divmod(max(0, minutes), 60)
    if language.startswith("zh"):
        return (f"{h}小时" if h else "") + (f"{m}分钟" if m or not h else "")
    return " ".join(p for p in (f"{h} h" if h else "", f"{m} min" if m or not h else "") if p)
