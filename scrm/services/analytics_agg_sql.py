"""SQL helpers the daily figures share: local days of UTC timestamps, UTC bounds of local days, months.

PostgreSQL converts with the zone itself (`timezone(tz, ts)`), so daylight saving is exact. SQLite (the
demo) shifts by the zone's UTC offset at the end of the refreshed range, which is exact for zones
without daylight saving (Asia/Shanghai, the default).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.models import StatDaily

# GROUP BY by position (dealer, day[, dim]) of the INSERT ... SELECT columns: with server-side parameters
# an expression with a bound value (the zone) would not match its copy in the select list on PostgreSQL.
BY_DAY = sa.text("2, 3")
TABLE: sa.Table = StatDaily.__table__  # type: ignore[assignment]
BY_DIM = sa.text("2, 3, 5")


@dataclass(frozen=True)
class Ctx:
    """What one refresh works with: the session, the account, the zone and the dialect."""

    s: Session
    account_id: int
    tz: ZoneInfo
    pg: bool
    offset_minutes: int

    def local_day(self, col: Any) -> sa.ColumnElement[Any]:
        """The local calendar day of a UTC timestamp column."""
        if self.pg:
            return sa.cast(sa.func.timezone(self.tz.key, col), sa.Date)
        return sa.func.date(col, f"{self.offset_minutes:+d} minutes")

    def month_of(self, col: Any) -> sa.ColumnElement[Any]:
        """The first day of the month of a date column."""
        if self.pg:
            return sa.cast(sa.func.date_trunc("month", col), sa.Date)
        return sa.func.date(col, "start of month")

    def plus_months(self, col: Any, months: int) -> sa.ColumnElement[Any]:
        """A date column plus whole months (PostgreSQL clamps Jan 31 + 1 month to Feb 28; SQLite rolls into March)."""
        if self.pg:
            return sa.cast(col + sa.text(f"interval '{int(months)} months'"), sa.Date)
        return sa.func.date(col, f"+{int(months)} months")

    def bounds(self, start: date, end: date) -> tuple[datetime, datetime]:
        """UTC instants of local midnight starting `start` and local midnight ending `end`."""
        return utc_midnight(start, self.tz), utc_midnight(end + timedelta(days=1), self.tz)

    def insert(self, stmt: sa.Select[Any]) -> int:
        """INSERT INTO stat_daily (account_id, dealer_id, day, metric, dim, value) SELECT ...; rows written."""
        cols = ["account_id", "dealer_id", "day", "metric", "dim", "value"]
        # the driver reports no row count for INSERT ... SELECT here: count the ids it returns instead
        return len(self.s.execute(sa.insert(TABLE).from_select(cols, stmt).returning(TABLE.c.id)).all())

    def write(self, rows: list[dict[str, Any]]) -> int:
        """Insert prepared rows (a few thousand at most); rows written."""
        if rows:
            self.s.execute(sa.insert(StatDaily), [{"account_id": self.account_id, **r} for r in rows])
        return len(rows)

    def delete(self, metrics: list[str], first: date, last: date) -> None:
        """Remove the account's rows of `metrics` for days in [first, last]."""
        self.s.execute(sa.delete(StatDaily).where(
            StatDaily.account_id == self.account_id, StatDaily.metric.in_(metrics),
            StatDaily.day >= first, StatDaily.day <= last))


def make_ctx(s: Session, account_id: int, tz: ZoneInfo, end: date) -> Ctx:
    """The context of one refresh."""
    pg = s.get_bind().dialect.name == "postgresql"
    offset = datetime.combine(end, time(12), tz).utcoffset() or timedelta(0)
    return Ctx(s, account_id, tz, pg, int(offset.total_seconds() // 60))


def utc_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant of local midnight starting `day`."""
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def lit(value: Any, type_: Any = None) -> sa.ColumnElement[Any]:
    """A bound literal for INSERT ... SELECT columns."""
    return sa.literal(value, type_) if type_ is not None else sa.literal(value)


def add_months(day: date, months: int) -> date:
    """`day` plus whole months, clamped to the month's last day."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise ValueError(day)
