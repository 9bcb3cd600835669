"""The campaign form: raw fields to `CampaignInput`, and a campaign back to what the form shows.

The form is plain HTML (the variants carry the message editor's fields under `v0_`, `v1_`, ...), so it is
read from `request.form` here rather than declared as WTForms fields; CSRF is checked app-wide. Numbers
that are not numbers raise Invalid on their field; every other rule is the service's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.datastructures import MultiDict

from scrm import runtime
from scrm.admin import compose_form
from scrm.models import Campaign
from scrm.services.campaigns import CampaignInput
from scrm.services.errors import Invalid

KEYS = ("A", "B", "C", "D")
CHANNELS = ("auto", "custom", "template", "mass")
SCHEDULES = ("now", "at", "recurring")
EVERY = ("day", "week", "month")


@dataclass
class FormState:
    """What the form shows: typed values (never lost on an error) and the problem, if any."""

    name: str = ""
    dealer_id: str = ""
    segment_id: str = ""
    channel: str = "auto"
    variants: list[dict[str, Any]] = field(default_factory=lambda: [{"key": "A", "weight": 100, "message": {}}])
    holdout_pct: str = "0"
    schedule: str = "now"
    send_at: str = ""
    every: str = "week"
    at: str = "10:00"
    weekday: str = "0"
    day: str = "1"
    until: str = ""
    quiet_hours: str = ""
    conversion_days: str = "14"
    error_field: str = ""
    error: str = ""


def _int(raw: str | None, name: str) -> int:
    try:
        return int((raw or "").strip())
    except ValueError as exc:
        raise Invalid("Enter a whole number.", field=name) from exc


def _local(raw: str) -> datetime | None:
    """A `YYYY-MM-DDTHH:MM` in the app's time zone as an aware UTC instant (None when blank)."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = datetime.strptime(raw.replace(" ", "T")[:16], "%Y-%m-%dT%H:%M")
    except ValueError as exc:
        raise Invalid("Enter a date and time.", field="send_at") from exc
    return value.replace(tzinfo=runtime.get().settings.app.tz).astimezone(UTC)


def local_text(value: datetime | None) -> str:
    """An instant as the form's `YYYY-MM-DDTHH:MM` in the app's time zone ('' for none)."""
    if value is None:
        return ""
    return value.astimezone(runtime.get().settings.app.tz).strftime("%Y-%m-%dT%H:%M")


def state_from(form: MultiDict[str, str]) -> FormState:
    """The typed form, as it was typed (for showing it again)."""
    count = max(1, min(len(KEYS), _count(form)))
    variants = [{"key": KEYS[i], "weight": form.get(f"v{i}_weight", ""),
                 "message": compose_form.parse(form, f"v{i}_")} for i in range(count)]
    g = form.get
    return FormState(
        name=g("name", "").strip(), dealer_id=g("dealer_id", ""), segment_id=g("segment_id", ""),
        channel=g("channel", "auto"), variants=variants, holdout_pct=g("holdout_pct", "0").strip(),
        schedule=g("schedule", "now"), send_at=g("send_at", "").strip(), every=g("every", "week"),
        at=g("at", "").strip(), weekday=g("weekday", "0"), day=g("day", "1").strip(), until=g("until", "").strip(),
        quiet_hours=g("quiet_hours", "").strip(), conversion_days=g("conversion_days", "14").strip())


def _count(form: MultiDict[str, str]) -> int:
    raw = form.get("variant_count", "")
    if raw.strip().isdigit():
        return int(raw)
    return sum(1 for i in range(len(KEYS)) if f"v{i}_text" in form or f"v{i}_kind" in form) or 1


def to_input(st: FormState, dealer_id: int | None) -> CampaignInput:
    """The service input from the typed form; Invalid names the field when a number is not one."""
    single = len(st.variants) == 1
    variants = [{"key": v["key"], "weight": 100 if single and not str(v["weight"]).strip()
                 else _int(str(v["weight"]), "variants"), "message": v["message"]} for v in st.variants]
    recurrence: dict[str, Any] = {}
    if st.schedule == "recurring":
        recurrence = {"every": st.every, "at": st.at, "until": st.until}
        if st.every == "week":
            recurrence["weekday"] = _int(st.weekday, "recurrence")
        if st.every == "month":
            recurrence["day"] = _int(st.day, "recurrence")
    segment = st.segment_id.strip()
    return CampaignInput(
        name=st.name, dealer_id=dealer_id, segment_id=_int(segment, "segment_id") if segment else None,
        channel=st.channel, variants=variants, holdout_pct=_int(st.holdout_pct or "0", "holdout_pct"),
        schedule=st.schedule, send_at=_local(st.send_at) if st.schedule != "now" else None,
        recurrence=recurrence, quiet_hours=st.quiet_hours,
        conversion_days=_int(st.conversion_days, "conversion_days"))


def state_of(c: Campaign) -> FormState:
    """A saved campaign as the form shows it."""
    r = c.recurrence or {}
    return FormState(
        name=c.name, dealer_id=str(c.dealer_id or ""), segment_id=str(c.segment_id or ""), channel=c.channel.value,
        variants=[dict(v) for v in c.variants] or FormState().variants, holdout_pct=str(c.holdout_pct),
        schedule=c.schedule.value, send_at=local_text(c.send_at), every=str(r.get("every", "week")),
        at=str(r.get("at", "10:00")), weekday=str(r.get("weekday", 0)), day=str(r.get("day", 1)),
        until=str(r.get("until", "")), quiet_hours=c.quiet_hours, conversion_days=str(c.conversion_days))


def show_error(st: FormState, exc: Invalid, message: str) -> None:
    """Attach the service's problem to the form field it names (a message field to its variant's editor)."""
    name = exc.field or ""
    if name and name[0] == "v" and "_" in name and name[1:name.index("_")].isdigit():
        prefix = name[:name.index("_") + 1]
        name = compose_form.field_name(prefix, name[len(prefix):])
    elif name in ("text", "template_id", "template_url", "template_fields", "kind") or name.startswith("news_"):
        name = compose_form.field_name("v0_", name)
    st.error_field, st.error = name, message
