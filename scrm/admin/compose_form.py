"""The message editor's form fields: one message per prefix (a campaign variant, a journey step).

Field names: `<p>kind` (text|news), `<p>text`, `<p>news_title`, `<p>news_description`, `<p>news_url`,
`<p>news_picurl`, `<p>template_id`, `<p>template_url`, and the template's fields as parallel lists
`<p>tf_key` / `<p>tf_value`. `parse` gives the message dict of scrm.services.compose (unchecked: the
service normalises it for the channel and reports the field at fault).
"""

from __future__ import annotations

from typing import Any

from werkzeug.datastructures import MultiDict


def parse(form: MultiDict[str, str], prefix: str) -> dict[str, Any]:
    """The message written in the editor with this prefix."""
    keys = form.getlist(f"{prefix}tf_key")
    values = form.getlist(f"{prefix}tf_value")
    fields = {k.strip(): v for k, v in zip(keys, values, strict=False) if k.strip()}
    return {
        "kind": "news" if form.get(f"{prefix}kind") == "news" else "text",
        "text": form.get(f"{prefix}text", ""),
        "news": {k: form.get(f"{prefix}news_{k}", "") for k in ("title", "description", "url", "picurl")},
        "template": {"template_id": form.get(f"{prefix}template_id", "").strip(),
                     "url": form.get(f"{prefix}template_url", "").strip(), "fields": fields},
    }


def field_name(prefix: str, problem_field: str) -> str:
    """The form field an Invalid(field=...) from scrm.services.compose points at."""
    if problem_field.startswith("template_") and problem_field not in ("template_id", "template_url",
                                                                       "template_fields"):
        return f"{prefix}tf_value"
    return f"{prefix}{problem_field}"
