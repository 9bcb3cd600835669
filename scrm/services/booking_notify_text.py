"""The words of booking notices: what a notice says (templates/notices/booking/) and its WeChat payloads.

A notice is written once as an AUTO payload: a customer-service text for when the follower's 48-hour window
is open, and, when the account has the template configured, a template message for when it is not.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.orm import Session

from scrm import ROOT, runtime
from scrm.config import AccountSettings
from scrm.models import Account, Booking, Dealer, DemoCar, ServiceType
from scrm.services import booking_config
from scrm.wechat.render import translations

NOTICES_DIR = ROOT / "templates" / "notices"
_WEEKDAYS_ZH = "一二三四五六日"
_lock = threading.Lock()
_envs: dict[str, Environment] = {}


@dataclass(frozen=True)
class Facts:
    """What a notice about one booking shows, in the dealer's time zone."""

    booking_id: int
    account: AccountSettings
    service: str
    start_local: datetime
    completed_local: datetime | None
    dealer: str
    address: str
    phone: str
    demo_model: str

    @property
    def language(self) -> str:
        """The account's language: notices speak it like the bot does."""
        return self.account.language

    def url(self, path: str) -> str:
        """An absolute link to one of our H5 pages of this account."""
        return runtime.get().settings.app.public_url.rstrip("/") + f"/h5/{self.account.slug}{path}"

    @property
    def my_bookings_url(self) -> str:
        """The follower's 我的预约 page (h5.my_bookings)."""
        return self.url("/bookings")

    @property
    def rate_url(self) -> str:
        """The H5 rating page of this booking (h5.booking_rate)."""
        return self.url(f"/bookings/{self.booking_id}/rate")


def load_facts(s: Session, b: Booking) -> Facts | None:
    """The facts of booking `b`; None when its account is not configured here."""
    slug = s.get(Account, b.account_id)
    account = runtime.get().settings.account(slug.slug) if slug else None
    if account is None:
        return None
    tz = booking_config.load(s, b.dealer_id).rules.tz
    st = s.get(ServiceType, b.service_type_id)
    dealer = s.get(Dealer, b.dealer_id)
    car = s.get(DemoCar, b.demo_car_id) if b.demo_car_id else None
    address = ""
    if dealer is not None and dealer.address:   # the city in front unless the address starts with it (as on cards)
        address = dealer.address if dealer.address.startswith(dealer.city) else dealer.city + dealer.address
    return Facts(booking_id=b.id, account=account, service=st.name if st else "", start_local=b.start_at.astimezone(tz),
                 completed_local=b.completed_at.astimezone(tz) if b.completed_at else None,
                 dealer=dealer.name if dealer else "", address=address, phone=dealer.phone if dealer else "",
                 demo_model=car.model if car else "")


def local_time(value: datetime, language: str, weekday: bool = True) -> str:
    """A local time as followers read it: 2024年5月18日（周六）10:00, or Sat 18 May 2024, 10:00."""
    if language == "zh":
        day = f"{value.year}年{value.month}月{value.day}日"
        return f"{day}（周{_WEEKDAYS_ZH[value.weekday()]}）{value:%H:%M}" if weekday else f"{day} {value:%H:%M}"
    return value.strftime("%a %d %b %Y, %H:%M" if weekday else "%d %b %Y %H:%M")


def _environment(language: str) -> Environment:
    env = _envs.get(language)
    if env is None:
        with _lock:
            env = _envs.get(language)
            if env is None:
                # Plain text for chat and template values, never HTML: no escaping (WeChat shows it as typed).
                env = Environment(loader=FileSystemLoader(str(NOTICES_DIR)), autoescape=False,  # noqa: S701
                                  extensions=["jinja2.ext.i18n"], undefined=StrictUndefined,
                                  trim_blocks=True, lstrip_blocks=True, auto_reload=False)
                env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
                _envs[language] = env
    return env


def render(kind: str, facts: Facts, **values: Any) -> str:
    """The chat text of notice `kind` (templates/notices/booking/<kind>.txt) in the account's language."""
    template = _environment(facts.language).get_template(f"booking/{kind}.txt")
    return template.render(f=facts, when=local_time(facts.start_local, facts.language), **values).strip()


def clip(value: str, limit: int) -> str:
    """`value` cut to WeChat's template value limit (thing: 20 characters), marked with an ellipsis."""
    return value if len(value) <= limit else value[:limit - 1] + "…"


def _gettext(language: str, message: str) -> str:
    return translations(language).gettext(message)


def template_data(name: str, facts: Facts) -> dict[str, dict[str, str]]:
    """The `data` of template `name` (the keywords documented in config.example.toml)."""
    when = local_time(facts.start_local, facts.language, weekday=False)
    if name == "booking_rating":
        done = local_time(facts.completed_local or facts.start_local, facts.language, weekday=False)
        return {"thing1": {"value": clip(facts.service, 20)}, "thing2": {"value": clip(facts.dealer, 20)},
                "time3": {"value": clip(done, 32)},
                "thing4": {"value": clip(_gettext(facts.language, "Reply 1-5 (5 = best)"), 20)}}
    return {"thing1": {"value": clip(facts.service, 20)}, "time2": {"value": clip(when, 32)},
            "thing3": {"value": clip(facts.dealer, 20)}, "thing4": {"value": clip(facts.address or "-", 20)},
            "phone_number5": {"value": clip(facts.phone or "-", 17)}}


def payload(kind: str, template: str, facts: Facts, link: str, guard: dict[str, Any] | None = None,
            **values: Any) -> dict[str, Any]:
    """The AUTO payload of a notice: the chat text, the template (when configured) and the send-time guard."""
    out: dict[str, Any] = {"custom": {"msgtype": "text", "text": {"content": render(kind, facts, link=link,
                                                                                    **values)}}}
    template_id = facts.account.template_id(template)
    if template_id:
        out["template"] = {"template_id": template_id, "url": link, "data": template_data(template, facts)}
    if guard is not None:
        out["guard"] = guard
    return out
