"""Rules checked before a row is sent: who may receive what, and when.

Replies (and transactional notices) go out whenever the channel allows; marketing respects the
follower's opt-out and the quiet hours. A 45009 pauses one API of one account until WeChat's daily
quota resets (midnight, China time), held in Redis so every worker sees it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scrm import runtime

NON_MARKETING = frozenset({"reply", "deferred_reply", "transactional", "test"})  # test: staff to themselves
QUOTA_TZ = ZoneInfo("Asia/Shanghai")
ALL_APIS = "*"
_QUIET = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


def is_marketing(purpose: str) -> bool:
    """True for every purpose except replies and transactional notices."""
    return purpose not in NON_MARKETING


def parse_quiet_hours(spec: str) -> tuple[time, time] | None:
    """`"22:00-08:00"` -> (22:00, 08:00); empty -> None; anything else raises ValueError."""
    if not spec.strip():
        return None
    m = _QUIET.match(spec)
    if not m:
        raise ValueError(f"quiet hours must look like 22:00-08:00, got {spec!r}")
    start = time(int(m.group(1)), int(m.group(2)))
    end = time(int(m.group(3)), int(m.group(4)))
    if start == end:
        raise ValueError("quiet hours must not start and end at the same time")
    return start, end


def quiet_until(now: datetime, spec: str, tz: ZoneInfo) -> datetime | None:
    """The end of the quiet window `now` falls in (aware UTC), or None outside it."""
    window = parse_quiet_hours(spec)
    if window is None:
        return None
    start, end = window
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    end_day = local.date()
    if start > end and t >= start:   # the window runs past midnight
        end_day += timedelta(days=1)
    local_end = datetime.combine(end_day, end, tzinfo=tz)
    return local_end.astimezone(UTC)


def next_quota_reset(now: datetime) -> datetime:
    """The next midnight in China time, when WeChat's daily API quotas reset (aware UTC)."""
    local = now.astimezone(QUOTA_TZ)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0, 0), tzinfo=QUOTA_TZ)
    return midnight.astimezone(UTC)


def _pause_key(account_id: int, api: str) -> str:
    return runtime.get().key("pause", account_id, api)


def pause(account_id: int, api: str, until: datetime, reason: str) -> None:
    """Stop calling `api` ("custom", "template", "mass" or "*") for the account until `until`."""
    seconds = max(1, int((until - datetime.now(UTC)).total_seconds()) + 1)
    runtime.get().redis.set(_pause_key(account_id, api), f"{until.timestamp():.0f}|{reason}", ex=seconds)


def paused_until(account_id: int, api: str) -> datetime | None:
    """When the pause of `api` (or of the whole account) ends, or None when it is not paused."""
    latest: datetime | None = None
    # One round trip for both keys: this runs before every send.
    for raw in runtime.get().redis.mget([_pause_key(account_id, api), _pause_key(account_id, ALL_APIS)]):
        if raw:
            try:
                until = datetime.fromtimestamp(float(str(raw).split("|", 1)[0]), UTC)
            except ValueError:
                continue
            latest = until if latest is None or until > latest else latest
    return latest


def resume(account_id: int, api: str) -> None:
    """Lift a pause (staff action after WeChat reset a quota by hand)."""
    runtime.get().redis.delete(_pause_key(account_id, api))
