"""Rules checked before a row is sent: who may receive what, and when.

Replies (and transactional notices) go out whenever the channel allows; marketing respects the
follower's opt-out and the quiet hours. A 45009 pauses one API of one account until WeChat's daily
quota resets (midnight, China time), held in Redis so every worker sees it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from time import monotonic
from zoneinfo import ZoneInfo

from scrm import runtime

NON_MARKETING = frozenset({"reply", "deferred_reply", "transactional", "test"})  # test: staff to themselves
QUOTA_TZ = ZoneInfo("Asia/Shanghai")
ALL_APIS = "*"
# Pauses this process set: key -> (monotonic time set, until). A PauseView made before honours them.
_recent: dict[str, tuple[float, datetime]] = {}
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
    key = _pause_key(account_id, api)
    runtime.get().redis.set(key, f"{until.timestamp():.0f}|{reason}", ex=seconds)
    _recent[key] = (monotonic(), until)


def _until(raw: object) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromtimestamp(float(str(raw).split("|", 1)[0]), UTC)
    except ValueError:
        return None


def _latest(values: Iterable[datetime | None]) -> datetime | None:
    found = [v for v in values if v is not None]
    return max(found) if found else None


def paused_until(account_id: int, api: str) -> datetime | None:
    """When the pause of `api` (or of the whole account) ends, or None when it is not paused."""
    # One round trip for both keys.
    return _latest(_until(raw) for raw in runtime.get().redis.mget([_pause_key(account_id, api),
                                                                    _pause_key(account_id, ALL_APIS)]))


class PauseView:
    """The pauses a batch of sends obeys: read from Redis once for the batch (one round trip), plus
    every pause this process sets while the batch runs (a 45009 stops the batch's other rows at once;
    other workers see it at their next batch)."""

    def __init__(self, pairs: Iterable[tuple[int, str]]) -> None:
        self._since = monotonic()
        given = set(pairs)
        wanted = sorted(given | {(a, ALL_APIS) for a, _api in given})
        raws = runtime.get().redis.mget([_pause_key(a, api) for a, api in wanted]) if wanted else []
        self._loaded = {_pause_key(a, api): _until(raw) for (a, api), raw in zip(wanted, raws, strict=True)}

    def _one(self, key: str) -> datetime | None:
        recent = _recent.get(key)
        if recent is not None and recent[0] >= self._since:
            return recent[1] if key not in self._loaded else _latest((recent[1], self._loaded[key]))
        if key in self._loaded:
            return self._loaded[key]
        return paused_until_key(key)

    def until(self, account_id: int, api: str) -> datetime | None:
        """As `paused_until`, from the batch's reading."""
        return _latest((self._one(_pause_key(account_id, api)), self._one(_pause_key(account_id, ALL_APIS))))


def paused_until_key(key: str) -> datetime | None:
    """The end of the pause stored at `key` (a pair the batch did not load: asked on its own)."""
    return _until(runtime.get().redis.get(key))


def resume(account_id: int, api: str) -> None:
    """Lift a pause (staff action after WeChat reset a quota by hand)."""
    key = _pause_key(account_id, api)
    runtime.get().redis.delete(key)
    _recent.pop(key, None)
