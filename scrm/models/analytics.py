"""Analytics and follow-up: customer scores (value segment, churn risk), prospects' stated intent and
lead scores, advisors' follow-up tasks, pre-aggregated daily figures and the runs that computed them.

Scores and figures are derived data: the nightly job rewrites them from the records, so nothing a
user entered lives only here. Stated intent and tasks are user data and are never rewritten.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from scrm.db import Base, utcnow


def _enum(e: type[enum.Enum], length: int = 16) -> sa.Enum:
    return sa.Enum(e, native_enum=False, length=length, values_callable=lambda x: [m.value for m in x])


class ValueSegment(enum.StrEnum):
    """RFM value segments: each of recency, frequency and money is high or low against the dealer's mean."""

    IMPORTANT_VALUE = "important_value"      # 重要价值: recent, frequent, spends much
    IMPORTANT_KEEP = "important_keep"        # 重要保持: not recent, frequent, spends much
    IMPORTANT_DEVELOP = "important_develop"  # 重要发展: recent, infrequent, spends much
    IMPORTANT_RETAIN = "important_retain"    # 重要挽留: not recent, infrequent, spends much
    GENERAL_VALUE = "general_value"          # 一般价值: recent, frequent, spends little
    GENERAL_KEEP = "general_keep"            # 一般保持: not recent, frequent, spends little
    GENERAL_DEVELOP = "general_develop"      # 一般发展: recent, infrequent, spends little
    GENERAL_RETAIN = "general_retain"        # 一般挽留: not recent, infrequent, spends little
    NO_HISTORY = "no_history"                # no service visit on record


class ChurnBand(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ChurnReason(enum.IntFlag):
    """Why a churn score is what it is; stored as a bit mask, shown with the figures behind each bit."""

    OVERDUE = 1        # time since the last service is past the expected interval
    FALLING = 2        # fewer visits in the last 12 months than in the 12 before
    WARRANTY = 4       # the warranty ends soon or ended recently
    LOW_RATING = 8     # a satisfaction answer of 1 or 2 in the last 12 months
    IGNORED = 16       # recent pushes went unread (no click, no reply)
    UNFOLLOWED = 32    # the owner's WeChat unfollowed the account


class CustomerScore(Base):
    """One customer's value segment and churn risk, rewritten by the nightly scoring."""

    __tablename__ = "customer_scores"
    __table_args__ = (
        sa.Index("ix_customer_scores_dealer_band", "dealer_id", "churn_band", "churn_score"),
        sa.Index("ix_customer_scores_dealer_segment", "dealer_id", "value_segment"),
        # Every row is rewritten each night; with half of each page free the new version lands on the same
        # page and, when no indexed column changed (the usual case), as a HOT update that writes no index
        # entry: the nightly write at 1,000,000 customers went from about 36 s to a few seconds.
        {"postgresql_with": {"fillfactor": 50}},
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"))
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), unique=True)
    # value (RFM) over the last 24 months of repair orders
    last_visit_on: Mapped[date | None]
    visits_24m: Mapped[int] = mapped_column(default=0)
    spend_24m: Mapped[Decimal] = mapped_column(sa.Numeric(14, 2), default=Decimal(0))
    r_score: Mapped[int] = mapped_column(sa.SmallInteger, default=0)   # 1-5 (5 = most recent); 0 = no history
    f_score: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    m_score: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    value_segment: Mapped[ValueSegment] = mapped_column(_enum(ValueSegment, 20), default=ValueSegment.NO_HISTORY)
    # churn risk: 0-100, its band, its reasons and the figures behind them
    churn_score: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    churn_band: Mapped[ChurnBand] = mapped_column(_enum(ChurnBand, 8), default=ChurnBand.LOW)
    churn_reasons: Mapped[int] = mapped_column(default=0)               # ChurnReason bits
    expected_interval_days: Mapped[int | None]
    overdue_days: Mapped[int | None]                                    # days past the expected next visit
    visits_last_12m: Mapped[int] = mapped_column(default=0)
    visits_prev_12m: Mapped[int] = mapped_column(default=0)
    warranty_expiry: Mapped[date | None]
    low_rating: Mapped[int | None]                                      # the lowest answer in 12 months
    ignored_pushes: Mapped[int] = mapped_column(default=0)
    unfollowed: Mapped[bool] = mapped_column(default=False)
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)


class Budget(enum.StrEnum):
    """A prospect's stated budget for the car."""

    UNDER_100K = "under_100k"
    FROM_100K = "100k_200k"
    FROM_200K = "200k_300k"
    FROM_300K = "300k_500k"
    OVER_500K = "over_500k"


class BuyTimeline(enum.StrEnum):
    """When a prospect says they will buy."""

    WITHIN_1M = "within_1m"
    WITHIN_3M = "within_3m"
    WITHIN_6M = "within_6m"
    LATER = "later"
    JUST_LOOKING = "just_looking"


class LeadIntent(Base):
    """What a prospect says they want (one row per follower), from the H5 form or entered by staff."""

    __tablename__ = "lead_intents"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dealers.id"), index=True)
    follower_id: Mapped[int] = mapped_column(sa.ForeignKey("followers.id"), unique=True)
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    model: Mapped[str] = mapped_column(sa.String(100), default="")
    budget: Mapped[Budget | None] = mapped_column(_enum(Budget))
    timeline: Mapped[BuyTimeline | None] = mapped_column(_enum(BuyTimeline))
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    source: Mapped[str] = mapped_column(sa.String(8), default="h5")    # h5 | staff
    updated_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LeadScore(Base):
    """A prospect's test-drive readiness: engagement plus stated intent, with the parts that made it."""

    __tablename__ = "lead_scores"
    __table_args__ = (sa.Index("ix_lead_scores_dealer_score", "dealer_id", "score"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dealers.id"))
    follower_id: Mapped[int] = mapped_column(sa.ForeignKey("followers.id"), unique=True)
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"))
    score: Mapped[int] = mapped_column(sa.SmallInteger, default=0)      # 0-100
    engagement: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    intent: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    # [{"code": "menu_taps", "points": 12, "value": 6}, ...] in the order they weigh
    parts: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    models: Mapped[list[str]] = mapped_column(sa.JSON, default=list)   # models asked about
    distance_km: Mapped[Decimal | None] = mapped_column(sa.Numeric(8, 1))
    invited_at: Mapped[datetime | None]                                 # the last test-drive invitation
    # the nightly run that last changed the score or its parts (an unchanged row is not rewritten)
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaskRule(enum.StrEnum):
    """Where a follow-up task came from."""

    AFTER_PURCHASE = "after_purchase"            # call two weeks after the purchase
    CHURN_RISK = "churn_risk"                    # the churn risk is high
    TEST_DRIVE_NO_PURCHASE = "test_drive"        # no purchase three days after a test drive
    LOW_RATING = "low_rating"                    # a satisfaction answer of 1 or 2
    LEAD_INVITE = "lead_invite"                  # a hot lead to invite for a test drive
    MANUAL = "manual"                            # created by staff


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class TaskOutcome(enum.StrEnum):
    """How a follow-up ended."""

    REACHED = "reached"              # spoke to the customer, all well
    BOOKED = "booked"                # the customer booked a visit or a test drive
    CALL_BACK = "call_back"          # asked to be called again (a new task is made)
    NO_ANSWER = "no_answer"
    NOT_INTERESTED = "not_interested"
    COMPLAINT = "complaint"          # a complaint was taken and handed on
    WRONG_NUMBER = "wrong_number"
    OTHER = "other"


class Task(Base):
    """A follow-up for an advisor: made by a rule (once per subject, by `dedupe_key`) or by staff."""

    __tablename__ = "tasks"
    __table_args__ = (
        sa.Index("ix_tasks_dealer_status_due", "dealer_id", "status", "due_on"),
        sa.Index("ix_tasks_assignee_status", "assignee_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"))
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    follower_id: Mapped[int | None] = mapped_column(sa.ForeignKey("followers.id"), index=True)
    rule: Mapped[TaskRule] = mapped_column(_enum(TaskRule, 16))
    dedupe_key: Mapped[str] = mapped_column(sa.String(191), unique=True)
    title: Mapped[str] = mapped_column(sa.String(200))                  # an English msgid for rule tasks
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    due_on: Mapped[date]
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus, 10), default=TaskStatus.OPEN)
    outcome: Mapped[TaskOutcome | None] = mapped_column(_enum(TaskOutcome))
    outcome_note: Mapped[str] = mapped_column(sa.Text, default="")
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    done_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]


class StatDaily(Base):
    """One pre-aggregated figure: `metric` for one dealer (None: no dealer) on one day, split by `dim`."""

    __tablename__ = "stat_daily"
    __table_args__ = (sa.Index("ix_stat_daily_account_metric_day", "account_id", "metric", "day"),)
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    dealer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dealers.id"))
    day: Mapped[date]
    metric: Mapped[str] = mapped_column(sa.String(32))
    dim: Mapped[str] = mapped_column(sa.String(64), default="")
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class AnalyticsRun(Base):
    """One run of a nightly analytics step: what it did and how long it took."""

    __tablename__ = "analytics_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    step: Mapped[str] = mapped_column(sa.String(32))                   # scores | leads | aggregates | tasks
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    rows: Mapped[int] = mapped_column(default=0)
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    error: Mapped[str] = mapped_column(sa.Text, default="")
