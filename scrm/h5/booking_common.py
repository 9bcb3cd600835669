"""Shared pieces of the H5 booking pages: who is signed in, error text, local date formats, the 404 page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

import babel.dates
from flask import render_template
from flask_babel import get_locale, gettext
from werkzeug.wrappers import Response

from scrm.config import AccountSettings
from scrm.h5.auth import account_or_404, current_openid, start_sign_in
from scrm.models import BookingStatus
from scrm.services.accounts import account_id
from scrm.services.errors import DomainError
from scrm.services.followers import FollowerRef, get_follower
from scrm.services.normalize_base import N_

Page = Response | str | tuple[str, int]

STATUS_LABELS = {
    BookingStatus.CONFIRMED: N_("Confirmed"),
    BookingStatus.CANCELLED: N_("Cancelled"),
    BookingStatus.CHECKED_IN: N_("Checked in"),
    BookingStatus.COMPLETED: N_("Completed"),
    BookingStatus.NO_SHOW: N_("Missed"),
}


@dataclass(frozen=True)
class Visitor:
    """The signed-in follower of an account."""

    account: AccountSettings
    account_id: int
    follower: FollowerRef


def visitor(slug: str, *, must_follow: bool = True) -> Visitor | Page:
    """The signed-in follower, or the page to show instead (WeChat sign-in, or "follow us first").

    Booking needs a follower (confirmations reach the chat); one who unfollowed still sees and changes
    their own bookings (`must_follow=False`).
    """
    account = account_or_404(slug)
    openid = current_openid(account)
    if openid is None:
        return start_sign_in(account)
    acc_id = account_id(slug)
    follower = get_follower(acc_id, openid)
    if follower is None or (must_follow and not follower.subscribed):
        return render_template("h5/booking/notice.html", account=account, fmt=Fmt(), view="follow_first")
    return Visitor(account=account, account_id=acc_id, follower=follower)


def error_text(exc: DomainError) -> str:
    """A domain error's message in the page's language."""
    return gettext(exc.message, **exc.params) if exc.params else gettext(exc.message)


def not_found(account: AccountSettings) -> tuple[str, int]:
    """The 404 page for a booking that is not the follower's (or does not exist)."""
    return render_template("h5/booking/notice.html", account=account, fmt=Fmt(), view="not_found"), 404


class Fmt:
    """Dates and times as the page's language writes them (values are already local to the dealer)."""

    def _locale(self) -> str:
        return str(get_locale() or "zh")

    def day(self, d: date) -> str:
        """11月25日周三 / Wed, Nov 25."""
        return babel.dates.format_skeleton("MMMEd", d, locale=self._locale())

    def full_day(self, d: date) -> str:
        """2026年11月25日星期三 / Wednesday, November 25, 2026."""
        return babel.dates.format_date(d, "full", locale=self._locale())

    def month(self, d: date) -> str:
        """2026年11月 / November 2026."""
        return babel.dates.format_skeleton("yMMMM", d, locale=self._locale())

    def weekdays(self) -> list[str]:
        """Short weekday names, Monday first."""
        names = babel.dates.get_day_names("narrow" if self._locale() == "en" else "abbreviated",
                                          locale=self._locale())
        return [names[i] for i in range(7)]

    def time(self, t: time | datetime) -> str:
        """14:30."""
        return t.strftime("%H:%M")

    def when(self, local: datetime) -> str:
        """11月25日周三 14:30."""
        return f"{self.day(local.date())} {local:%H:%M}"

    def status(self, status: BookingStatus) -> str:
        """The status as the follower reads it."""
        return gettext(STATUS_LABELS[status])
