"""When a recurring campaign runs next: a pure function of its recurrence, the last instant and the zone.

A recurrence is `{"every": "day"|"week"|"month", "at": "HH:MM", "weekday": 0-6 (Monday 0), "day": 1-28,
"until": "YYYY-MM-DD" or ""}`; times are local to the app's zone, days past `until` never run.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from scrm.services.errors import Invalid

EVERY = ("day", "week", "month")
_AT = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def normalise(recurrence: Any) -> dict[str, Any]:
    """A checked copy of a recurrence; raises Invalid (field "recurrence") when it makes no sense."""
    if not isinstance(recurrence, dict):
        raise Invalid("Choose how often the campaign repeats.", field="recurrence")
    every = str(recurrence.get("every", ""))
    if every not in EVERY:
        raise Invalid("Choose how often the campaign repeats.", field="recurrence")
    at = str(recurrence.get("at", "")).strip()
    if not _AT.match(at):
        raise Invalid("Enter the time of day as HH:MM.", field="recurrence")
    out: dict[str, Any] = {"every": every, "at": f"{int(at.split(':')[0]):02d}:{at.split(':')[1]}", "until": ""}
    try:
        if every == "week":
            out["weekday"] = int(recurrence.get("weekday", -1))
            if not 0 <= out["weekday"] <= 6:
                raise ValueError
        if every == "month":
            out["day"] = int(recurrence.get("day", 0))
            if not 1 <= out["day"] <= 28:
                raise ValueError
    except (TypeError, ValueError) as exc:
        raise Invalid("Choose the weekday, or a day of the month from 1 to 28.", field="recurrence") from exc
    until = str(recurrence.get("until") or "").strip()
    if until:
        try:
            out["until"] = date.fromisoformat(until).isoformat()
        except ValueError as exc:
            raise Invalid("Enter the end date as YYYY-MM-DD.", field="recurrence") from exc
    return out


def _matches(rec: dict[str, Any], day: date) -> bool:
    if rec["every"] == "week":
        return day.weekday() == int(rec["weekday"])
    if rec["every"] == "month":
        return day.day == int(rec["day"])
    return True


def next_run(recurrence: dict[str, Any], after: datetime, tz: ZoneInfo) -> datetime | None:
    """The first occurrence strictly after `after` (aware UTC), or None past `until` or for a bad recurrence."""
    try:
        rec = normalise(recurrence)
    except Invalid:
        return None
    hour, minute = (int(p) for p in rec["at"].split(":"))
    until = date.fromisoformat(rec["until"]) if rec["until"] else None
    day = after.astimezone(tz).date()
    for _ in range(400):   # a month recurrence matches within 31 days; a year is plenty
        if until is not None and day > until:
            return None
        if _matches(rec, day):
            at = datetime.combine(day, time(hour, minute), tzinfo=tz).astimezone(UTC)
            if at > after:
                return at
        day += timedelta(days=1)
    return None
