"""The built-in journeys: their steps (day offsets from the enrolment's anchor), settings and default wording.

Labels and default texts are English msgids; a dealer's journey row gets the texts translated into the
account's language when it is first created (scrm.services.journeys.ensure), after which staff own them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from typing import Any

from scrm.models import JourneyKind
from scrm.services.normalize_base import N_


@dataclass(frozen=True)
class StepDef:
    """One step: `day` is its offset in days from the enrolment's anchor (negative: before it)."""

    key: str
    label: str
    when_label: str
    day: int = 0
    text: str = ""        # the default wording (an English msgid)


@dataclass(frozen=True)
class SettingDef:
    """One setting of a journey: kind "int" (min..max), "time" ("HH:MM") or "dates" (list of "MM-DD")."""

    key: str
    label: str
    kind: str
    default: Any
    min: int | None = None
    max: int | None = None
    help: str = ""


@dataclass(frozen=True)
class JourneyDef:
    """A built-in journey."""

    kind: JourneyKind
    label: str
    description: str
    steps: tuple[StepDef, ...]
    settings: tuple[SettingDef, ...]
    exit_label: str

    def step(self, key: str) -> StepDef | None:
        """The step called `key`, or None."""
        return next((st for st in self.steps if st.key == key), None)


LATE_DAYS = 2   # a step first seen more than this many days after its day is skipped, not sent late


def _send_at(default: str = "10:00") -> SettingDef:
    return SettingDef("send_at", N_("Send at"), "time", default,
                      help=N_("Local time of day the messages go out."))


DEFS: dict[JourneyKind, JourneyDef] = {
    JourneyKind.WELCOME: JourneyDef(
        JourneyKind.WELCOME, N_("Welcome series"), N_("Three messages in the first month after a purchase."),
        (StepDef("d0", N_("Day 0"), N_("on the purchase day"), 0,
                 N_("{{ customer.salutation }}, congratulations on your new {{ vehicle.model }}! {{ dealer.name }} "
                    "is here for you: tap the menu to book a service, or call us on {{ dealer.phone }}.")),
         StepDef("d7", N_("Day 7"), N_("7 days after purchase"), 7,
                 N_("{{ customer.salutation }}, how is your first week with the {{ vehicle.model }}? Any "
                    "questions about its features? Reply here or call {{ dealer.name }} on {{ dealer.phone }}.")),
         StepDef("d30", N_("Day 30"), N_("30 days after purchase"), 30,
                 N_("{{ customer.salutation }}, one month with your {{ vehicle.model }}! A first check keeps "
                    "it in shape. Book it from the menu or call {{ dealer.phone }}."))),
        (_send_at(),), N_("None: every new owner gets all three.")),
    JourneyKind.MAINTENANCE: JourneyDef(
        JourneyKind.MAINTENANCE, N_("Maintenance due"),
        N_("When a service is due by months or by estimated kilometres, whichever comes first."),
        (StepDef("due", N_("Due"), N_("when the service falls due"), 0,
                 N_("{{ customer.salutation }}, your {{ vehicle.model }} is due for its service. Book a slot from "
                    "the menu, or call {{ dealer.name }} on {{ dealer.phone }}.")),
         StepDef("reminder", N_("Reminder"), N_("14 days later"), 14,
                 N_("{{ customer.salutation }}, a reminder: your {{ vehicle.model }} is still due for its service. "
                    "Book a visit from the menu or call us on {{ dealer.phone }}."))),
        (SettingDef("months", N_("Months between services"), "int", 6, 1, 24),
         SettingDef("km", N_("Kilometres between services"), "int", 5000, 1000, 30000,
                    N_("Estimated from the mileages in the service history.")),
         _send_at()),
        N_("The owner books a maintenance visit or a repair order is recorded.")),
    JourneyKind.BIRTHDAY: JourneyDef(
        JourneyKind.BIRTHDAY, N_("Birthday"), N_("Greetings on the customer's birthday, every year."),
        (StepDef("day", N_("Birthday"), N_("on the birthday"), 0,
                 N_("Happy birthday, {{ customer.salutation }}! Everyone at {{ dealer.name }} wishes you a great "
                    "year and safe travels. Questions about your car? Call us on {{ dealer.phone }}.")),),
        (_send_at("09:00"),), N_("None.")),
    JourneyKind.INSURANCE: JourneyDef(
        JourneyKind.INSURANCE, N_("Insurance renewal"), N_("Reminders 30 and 7 days before the insurance expires."),
        (StepDef("d30", N_("30 days before"), N_("30 days before expiry"), -30,
                 N_("{{ customer.salutation }}, the insurance of your {{ vehicle.model }} expires on "
                    "{{ vehicle.insurance_expiry|date }}. Call {{ dealer.name }} on {{ dealer.phone }} for a "
                    "renewal quote.")),
         StepDef("d7", N_("7 days before"), N_("7 days before expiry"), -7,
                 N_("{{ customer.salutation }}, only a week left: the insurance of your {{ vehicle.model }} expires "
                    "on {{ vehicle.insurance_expiry|date }}. Call us on {{ dealer.phone }} to renew in minutes."))),
        (_send_at(),), N_("The insurance is renewed (the expiry date changes).")),
    JourneyKind.SEASONAL: JourneyDef(
        JourneyKind.SEASONAL, N_("Seasonal care"), N_("Care tips for every owner on the dates you choose."),
        (StepDef("tip", N_("Tip"), N_("on each chosen date"), 0,
                 N_("{{ customer.salutation }}, winter is coming: check the tyres, battery and antifreeze of your "
                    "{{ vehicle.model }}. Book a visit from the menu or call us on {{ dealer.phone }}.")),),
        (SettingDef("dates", N_("Dates"), "dates", ["11-15"], help=N_("Month and day, e.g. 11-15, 06-01.")),
         _send_at()),
        N_("None.")),
    JourneyKind.TEST_DRIVE: JourneyDef(
        JourneyKind.TEST_DRIVE, N_("Test-drive follow-up"), N_("Follow up a test drive until the prospect buys."),
        (StepDef("d1", N_("Day 1"), N_("1 day after the test drive"), 1,
                 N_("{{ customer.salutation }}, thank you for test-driving with {{ dealer.name }}! Any questions? "
                    "Reply here or call {{ dealer.phone }}.")),
         StepDef("d3", N_("Day 3"), N_("3 days after the test drive"), 3,
                 N_("{{ customer.salutation }}, still thinking it over? Our sales advisors can prepare an offer for "
                    "you: call {{ dealer.phone }}.")),
         StepDef("d14", N_("Day 14"), N_("14 days after the test drive"), 14,
                 N_("{{ customer.salutation }}, want another drive? Book a test drive from the menu, or call "
                    "{{ dealer.name }} on {{ dealer.phone }}."))),
        (_send_at(),), N_("The prospect becomes an owner or a vehicle purchase is recorded.")),
    JourneyKind.SATISFACTION: JourneyDef(
        JourneyKind.SATISFACTION, N_("Visit satisfaction"), N_("Ask how the workshop visit went, the next day."),
        (StepDef("ask", N_("Question"), N_("the day after the visit"), 1,
                 N_("{{ customer.salutation }}, thank you for visiting {{ dealer.name }} yesterday. How satisfied "
                    "were you? Reply with a number from 1 (poor) to 5 (excellent).")),),
        (_send_at(),), N_("None.")),
    JourneyKind.REENGAGEMENT: JourneyDef(
        JourneyKind.REENGAGEMENT, N_("Re-engagement"),
        N_("Win back owners with no contact for a long time (at most twice a year)."),
        (StepDef("comeback", N_("Come back"), N_("when the owner has gone quiet"), 0,
                 N_("{{ customer.salutation }}, we miss you at {{ dealer.name }}! Book a check-up for your "
                    "{{ vehicle.model }} from the menu, or call us on {{ dealer.phone }}.")),),
        (SettingDef("days", N_("Days without contact"), "int", 180, 30, 720), _send_at()),
        N_("None: the message is sent once per half year.")),
}

_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_MMDD = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


def parse_time(value: str) -> time | None:
    """`"09:30"` -> time(9, 30); None when malformed."""
    m = _TIME.match(value.strip())
    return time(int(m.group(1)), int(m.group(2))) if m else None


def valid_mmdd(value: str) -> bool:
    """True for a real month-day such as "11-15" or "02-29"."""
    m = _MMDD.match(value.strip())
    if not m:
        return False
    month, day = int(m.group(1)), int(m.group(2))
    return day <= (29 if month == 2 else 30 if month in (4, 6, 9, 11) else 31)


def setting(journey_settings: dict[str, Any], definition: JourneyDef, key: str) -> Any:
    """A journey's setting, or the default when it is missing."""
    default = next(sd.default for sd in definition.settings if sd.key == key)
    return journey_settings.get(key, default)
