"""What the analytics parts share: the figure a chart and its CSV are drawn from, the period and dealer a
dashboard looks at, and the labels of segments, bands, reasons, budgets, timelines, task rules and outcomes.

Labels are English msgids (marked with N_), translated where they are shown.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.models import Budget, BuyTimeline, ChurnBand, ChurnReason, TaskOutcome, TaskRule, ValueSegment
from scrm.services.normalize_base import N_

# Churn bands: a score at or above the threshold is in the band.
CHURN_HIGH = 60
CHURN_MEDIUM = 30

VALUE_SEGMENT_LABELS: dict[ValueSegment, str] = {
    ValueSegment.IMPORTANT_VALUE: N_("Important value"),
    ValueSegment.IMPORTANT_KEEP: N_("Important to keep"),
    ValueSegment.IMPORTANT_DEVELOP: N_("Important to develop"),
    ValueSegment.IMPORTANT_RETAIN: N_("Important to win back"),
    ValueSegment.GENERAL_VALUE: N_("General value"),
    ValueSegment.GENERAL_KEEP: N_("General to keep"),
    ValueSegment.GENERAL_DEVELOP: N_("General to develop"),
    ValueSegment.GENERAL_RETAIN: N_("General to win back"),
    ValueSegment.NO_HISTORY: N_("No service history"),
}
CHURN_BAND_LABELS: dict[ChurnBand, str] = {
    ChurnBand.LOW: N_("Low risk"), ChurnBand.MEDIUM: N_("Medium risk"), ChurnBand.HIGH: N_("High risk"),
}
CHURN_REASON_LABELS: dict[ChurnReason, str] = {
    ChurnReason.OVERDUE: N_("Service overdue"),
    ChurnReason.FALLING: N_("Visiting less often"),
    ChurnReason.WARRANTY: N_("Warranty ending"),
    ChurnReason.LOW_RATING: N_("Low satisfaction answer"),
    ChurnReason.IGNORED: N_("Ignores our messages"),
    ChurnReason.UNFOLLOWED: N_("Unfollowed the account"),
}
BUDGET_LABELS: dict[Budget, str] = {
    Budget.UNDER_100K: N_("Under 100k yuan"), Budget.FROM_100K: N_("100k-200k yuan"),
    Budget.FROM_200K: N_("200k-300k yuan"), Budget.FROM_300K: N_("300k-500k yuan"),
    Budget.OVER_500K: N_("Over 500k yuan"),
}
TIMELINE_LABELS: dict[BuyTimeline, str] = {
    BuyTimeline.WITHIN_1M: N_("Within a month"), BuyTimeline.WITHIN_3M: N_("Within 3 months"),
    BuyTimeline.WITHIN_6M: N_("Within 6 months"), BuyTimeline.LATER: N_("Later this year or after"),
    BuyTimeline.JUST_LOOKING: N_("Just looking"),
}
TASK_RULE_LABELS: dict[TaskRule, str] = {
    TaskRule.AFTER_PURCHASE: N_("Call after purchase"),
    TaskRule.CHURN_RISK: N_("High churn risk"),
    TaskRule.TEST_DRIVE_NO_PURCHASE: N_("No purchase after test drive"),
    TaskRule.LOW_RATING: N_("Low satisfaction answer"),
    TaskRule.LEAD_INVITE: N_("Invite to a test drive"),
    TaskRule.MANUAL: N_("Manual"),
}
TASK_OUTCOME_LABELS: dict[TaskOutcome, str] = {
    TaskOutcome.REACHED: N_("Reached, all well"),
    TaskOutcome.BOOKED: N_("Booked a visit"),
    TaskOutcome.CALL_BACK: N_("Call back later"),
    TaskOutcome.NO_ANSWER: N_("No answer"),
    TaskOutcome.NOT_INTERESTED: N_("Not interested"),
    TaskOutcome.COMPLAINT: N_("Complaint taken"),
    TaskOutcome.WRONG_NUMBER: N_("Wrong number"),
    TaskOutcome.OTHER: N_("Other"),
}


def tune(s: Session, work_mem: str = "128MB") -> None:
    """Set up a nightly analytics transaction (PostgreSQL, this transaction only): room to hash (with the
    default 4 MB an `IN (subquery)` over 500,000 bindings is not hashed and turns into a scan per row), and
    no JIT compilation (measured at 1,000,000 customers it cost 7 s of the scores statement's CPU and about
    1 s of each large aggregate, more than it saved)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(sa.text(f"SET LOCAL work_mem = '{work_mem}'"))
        s.execute(sa.text("SET LOCAL jit = off"))


def analyze(s: Session, table: str) -> None:
    """Refresh the planner's statistics of a table the night just rewrote (PostgreSQL; part of the
    transaction): the next steps join it, and with the figures of an empty or older table PostgreSQL picks
    nested loops that cost minutes at a million rows instead of hash joins."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(sa.text(f"ANALYZE {table}"))


def churn_band(score: int) -> ChurnBand:
    """The band a churn score falls in."""
    if score >= CHURN_HIGH:
        return ChurnBand.HIGH
    if score >= CHURN_MEDIUM:
        return ChurnBand.MEDIUM
    return ChurnBand.LOW


def reasons_of(bits: int) -> list[ChurnReason]:
    """The reasons set in a churn reason bit mask, in declaration order."""
    return [r for r in ChurnReason if bits & r]


@dataclass(frozen=True)
class Period:
    """The days a dashboard covers (both ends included) and the dealer it is narrowed to (None: all in scope)."""

    start: date
    end: date
    dealer_id: int | None = None

    @classmethod
    def last_days(cls, days: int, today: date, dealer_id: int | None = None) -> Period:
        """The `days` days ending today."""
        return cls(today - timedelta(days=days - 1), today, dealer_id)

    def days(self) -> list[date]:
        """Every day of the period, in order."""
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


@dataclass
class Figure:
    """The data of one chart: `columns` name the x column then each series (msgids or plain names);
    `rows` hold the x value then one number per series. Charts and CSV exports are drawn from it."""

    key: str
    title: str
    kind: str                                   # line | bar | stacked | funnel | hist | table
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    note: str = ""                              # a msgid shown under the chart (how it is computed)
    translate_columns: bool = True              # False: columns are data (staff names, models)
    extra: dict[str, Any] = field(default_factory=dict)

    def csv(self, header: list[str] | None = None) -> str:
        """The figure as CSV text (UTF-8 with a BOM is added by the view); `header` replaces the column names."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header or self.columns)
        for row in self.rows:
            writer.writerow(["" if v is None else v for v in row])
        return out.getvalue()

    def total(self, column: int = 1) -> float:
        """The sum of one series."""
        return sum(float(r[column] or 0) for r in self.rows)
