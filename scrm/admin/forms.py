"""Admin forms (Flask-WTF: every POST form carries the CSRF token).

Fields only declare and read; the rules live in the services, which report every problem at once
(`FormInvalid`), and `show_problems` puts each message next to its field.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, TextAreaField

from scrm.models import MatchMode, ReplyKind, Role
from scrm.services.dealers import DealerInput
from scrm.services.errors import DomainError
from scrm.services.keyword_admin import KeywordInput


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


STRIP = [_strip]


class ChoiceField(StringField):  # type: ignore[misc]
    """A value picked from a <select> drawn by our macro; the service decides what is valid."""

    def __init__(self, label: str | None = None, choices: list[tuple[str, str]] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.choices: list[tuple[str, str]] = list(choices or [])


class AdminForm(FlaskForm):  # type: ignore[misc]
    """A form with a list of problems that belong to no single field."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.form_errors_extra: list[str] = []

    def show_problems(self, exc: DomainError) -> None:
        """Translate a service error onto the fields it names (the rest go to the form's top)."""
        problems = getattr(exc, "problems", None)
        if problems is None:
            problems = [exc]
            names = [getattr(exc, "field", "")]
        else:
            names = [p.field for p in problems]
        for problem, name in zip(problems, names, strict=True):
            text = gettext(problem.message, **problem.params) if problem.params else gettext(problem.message)
            field = self._fields.get(name) if name else None
            if field is not None:
                field.errors = [*field.errors, text] if isinstance(field.errors, list) else [text]
            else:
                self.form_errors_extra.append(text)

    @property
    def has_errors(self) -> bool:
        """True when any field or the form itself carries an error."""
        return bool(self.form_errors_extra) or any(f.errors for f in self)


def parse_int(raw: str | None) -> int | None:
    """An int from a form value, None when empty or not a whole number."""
    try:
        return int((raw or "").strip())
    except ValueError:
        return None


class LoginForm(AdminForm):
    username = StringField("Username", filters=STRIP)
    password = PasswordField("Password")


class KeywordForm(AdminForm):
    keyword = StringField("Keyword", filters=STRIP)
    match = ChoiceField("Match", choices=[(m.value, m.value) for m in MatchMode])
    kind = ChoiceField("Reply type", choices=[(k.value, k.value) for k in ReplyKind])
    text = TextAreaField("Reply text")
    news_title = StringField("Title", filters=STRIP)
    news_description = TextAreaField("Description", filters=STRIP)
    news_url = StringField("Link", filters=STRIP)
    news_pic_url = StringField("Picture link", filters=STRIP)
    priority = StringField("Priority", filters=STRIP, default="0")
    dealer_id = ChoiceField("Dealer", choices=[])
    enabled = BooleanField("Enabled", default=True)

    def to_input(self, forced_dealer: int | None, may_choose_dealer: bool) -> KeywordInput:
        """The service input; dealer roles always write for their own dealer."""
        priority = parse_int(self.priority.data)
        dealer_id = parse_int(self.dealer_id.data) if may_choose_dealer else forced_dealer
        return KeywordInput(
            keyword=self.keyword.data or "", match=self.match.data or "", kind=self.kind.data or "",
            text=(self.text.data or "").replace("\r\n", "\n").strip(), news_title=self.news_title.data or "",
            news_description=self.news_description.data or "", news_url=self.news_url.data or "",
            news_pic_url=self.news_pic_url.data or "",
            priority=priority if priority is not None else -1, dealer_id=dealer_id, enabled=bool(self.enabled.data))


class DealerForm(AdminForm):
    code = StringField("Code", filters=[*STRIP, lambda v: v.upper() if isinstance(v, str) else v])
    name = StringField("Name", filters=STRIP)
    city = StringField("City", filters=STRIP)
    address = StringField("Address", filters=STRIP)
    phone = StringField("Phone", filters=STRIP)
    latitude = StringField("Latitude", filters=STRIP)
    longitude = StringField("Longitude", filters=STRIP)
    welcome_text = TextAreaField("Welcome text", filters=STRIP)
    active = BooleanField("Active", default=True)

    def to_input(self) -> DealerInput:
        """The service input."""
        return DealerInput(code=self.code.data or "", name=self.name.data or "", city=self.city.data or "",
                           address=self.address.data or "", phone=self.phone.data or "",
                           latitude=self.latitude.data or "", longitude=self.longitude.data or "",
                           welcome_text=(self.welcome_text.data or "").replace("\r\n", "\n"),
                           active=bool(self.active.data))


class StaffForm(AdminForm):
    username = StringField("Username", filters=STRIP)
    display_name = StringField("Display name", filters=STRIP)
    role = ChoiceField("Role", choices=[(r.value, r.value) for r in Role])
    dealer_id = ChoiceField("Dealer", choices=[])
    password = PasswordField("Initial password")


class PasswordForm(AdminForm):
    password = PasswordField("New password")


class QrForm(AdminForm):
    dealer_id = ChoiceField("Dealer", choices=[])
    label = StringField("Label", filters=STRIP)
    permanent = BooleanField("Permanent", default=True)
    days = StringField("Days", filters=STRIP, default="30")


class ApiKeyForm(AdminForm):
    dealer_id = ChoiceField("Dealer", choices=[])
    name = StringField("Name", filters=STRIP)


class ConfirmForm(AdminForm):
    """An empty form: a POST button with its CSRF token (delete, enable, deactivate, sync)."""
