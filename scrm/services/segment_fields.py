"""The fields a segment can filter on, their kinds and the operators each kind allows.

Labels are English msgids, translated where they are shown. `source` says which part of a contact
the field reads: the customer record, any of the customer's vehicles, the follower, the follower's
loyalty member, or counted behaviour. A contact without a customer record (a follower who never
bound) matches no customer or vehicle condition.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.StrEnum):
    TEXT = "text"
    CHOICE = "choice"
    TAGS = "tags"
    NUMBER = "number"
    DATE = "date"
    BOOL = "bool"
    COUNT = "count"


class Source(enum.StrEnum):
    CUSTOMER = "customer"
    VEHICLE = "vehicle"
    FOLLOWER = "follower"
    MEMBER = "member"
    BEHAVIOUR = "behaviour"
    SCORE = "score"        # the nightly customer scores (customer_scores), by customer


OPS: dict[Kind, tuple[str, ...]] = {
    Kind.TEXT: ("eq", "ne", "in", "not_in", "contains", "empty", "not_empty"),
    Kind.CHOICE: ("in", "not_in"),
    Kind.TAGS: ("has_any", "has_all", "has_none"),
    Kind.NUMBER: ("gt", "gte", "lt", "lte", "between", "empty", "not_empty"),
    Kind.DATE: ("before", "after", "between", "within_last_days", "not_within_last_days", "within_next_days",
                "empty", "not_empty"),
    Kind.BOOL: ("is",),
    Kind.COUNT: ("gte", "lte", "eq"),
}
# Operators that take no value.
NO_VALUE = frozenset({"empty", "not_empty"})

OP_LABELS: dict[str, str] = {
    "eq": "is", "ne": "is not", "in": "is one of", "not_in": "is none of", "contains": "contains",
    "empty": "is empty", "not_empty": "is not empty", "has_any": "has any of", "has_all": "has all of",
    "has_none": "has none of", "gt": "more than", "gte": "at least", "lt": "less than", "lte": "at most",
    "between": "between", "before": "before", "after": "after", "within_last_days": "in the last N days",
    "not_within_last_days": "not in the last N days", "within_next_days": "in the next N days", "is": "is",
}


@dataclass(frozen=True)
class Field:
    """One filterable field."""

    key: str
    label: str
    kind: Kind
    source: Source
    choices: str = ""      # where CHOICE values come from: "stage", "gender", "tier", "dealer", "service_kind"
    unit: str = ""         # shown next to numbers: "km", "years", "points"
    brand_only: bool = False

    @property
    def ops(self) -> tuple[str, ...]:
        """The operators this field allows."""
        return OPS[self.kind]


FIELDS: tuple[Field, ...] = (
    Field("dealer", "Dealer", Kind.CHOICE, Source.CUSTOMER, choices="dealer", brand_only=True),
    Field("tags", "Tags", Kind.TAGS, Source.CUSTOMER),
    Field("city", "City", Kind.TEXT, Source.CUSTOMER),
    Field("stage", "Stage", Kind.CHOICE, Source.CUSTOMER, choices="stage"),
    Field("gender", "Gender", Kind.CHOICE, Source.CUSTOMER, choices="gender"),
    Field("source", "Customer source", Kind.TEXT, Source.CUSTOMER),
    Field("birthday_month", "Birthday month", Kind.NUMBER, Source.CUSTOMER),
    Field("customer_since", "Customer since", Kind.DATE, Source.CUSTOMER),
    Field("model", "Vehicle model", Kind.TEXT, Source.VEHICLE),
    Field("brand", "Vehicle brand", Kind.TEXT, Source.VEHICLE),
    Field("vehicle_age", "Vehicle age", Kind.NUMBER, Source.VEHICLE, unit="years"),
    Field("purchase_date", "Purchase date", Kind.DATE, Source.VEHICLE),
    Field("last_service", "Last service", Kind.DATE, Source.VEHICLE),
    Field("mileage", "Mileage", Kind.NUMBER, Source.VEHICLE, unit="km"),
    Field("insurance_expiry", "Insurance expiry", Kind.DATE, Source.VEHICLE),
    Field("tier", "Member tier", Kind.CHOICE, Source.MEMBER, choices="tier"),
    Field("balance", "Points balance", Kind.NUMBER, Source.MEMBER, unit="points"),
    Field("bound", "Bound to WeChat", Kind.BOOL, Source.FOLLOWER),
    Field("subscribed", "Follows the account", Kind.BOOL, Source.FOLLOWER),
    Field("last_interaction", "Last interaction", Kind.DATE, Source.FOLLOWER),
    Field("events_attended", "Club events attended", Kind.COUNT, Source.BEHAVIOUR),
    Field("bookings_made", "Bookings made", Kind.COUNT, Source.BEHAVIOUR),
    Field("link_clicks", "Link clicks", Kind.COUNT, Source.BEHAVIOUR),
    Field("churn_risk", "Churn risk", Kind.NUMBER, Source.SCORE),
    Field("churn_band", "Churn risk band", Kind.CHOICE, Source.SCORE, choices="churn_band"),
    Field("value_segment", "Value segment", Kind.CHOICE, Source.SCORE, choices="value_segment"),
)
BY_KEY: dict[str, Field] = {f.key: f for f in FIELDS}
MAX_DEPTH = 3          # groups inside groups inside the top group
MAX_RULES = 50         # conditions in one definition, all groups together
MAX_LIST = 200         # values in one `in` list


def field(key: str) -> Field | None:
    """The field with this key, if any."""
    return BY_KEY.get(key)
