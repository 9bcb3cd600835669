"""The menu editor's form: 3 buttons x 5 sub-buttons as plain rows, to and from WeChat's JSON shape.

Row fields are named `b<i>.<field>` and `b<i>.s<j>.<field>`, so the page works without JavaScript.
Problems from the menu validator carry WeChat paths (`button[1].sub_button[2].name`), which are
mapped back to the rows they came from (empty rows are skipped, so indices can differ).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_BUTTONS, MAX_SUBS = 3, 5
TYPES = ("click", "view", "miniprogram", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
         "pic_photo_or_album", "pic_weixin", "location_select", "media_id", "view_limited", "article_id",
         "article_view_limited")
# Which JSON field the row's "key" box fills for each type.
KEY_FIELD = {"click": "key", "scancode_push": "key", "scancode_waitmsg": "key", "pic_sysphoto": "key",
             "pic_photo_or_album": "key", "pic_weixin": "key", "location_select": "key",
             "media_id": "media_id", "view_limited": "media_id", "article_id": "article_id",
             "article_view_limited": "article_id"}
ROW_FIELDS = ("name", "type", "key", "url", "appid", "pagepath")
_PATH = re.compile(r"^button\[(\d+)\](?:\.sub_button\[(\d+)\])?(?:\.(\w+))?")


@dataclass
class Row:
    """One button or sub-button row of the editor."""

    prefix: str
    name: str = ""
    type: str = ""
    key: str = ""
    url: str = ""
    appid: str = ""
    pagepath: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)
    subs: list[Row] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """True when nothing was typed in the row (nor in its sub-rows)."""
        return not any(getattr(self, f) for f in ROW_FIELDS) and all(s.is_empty for s in self.subs)

    def add_error(self, fld: str, text: str) -> None:
        """Attach a message to one of the row's fields ('row' for the row as a whole)."""
        self.errors.setdefault(fld, []).append(text)


def empty_rows() -> list[Row]:
    """Three empty buttons with five empty sub-buttons each."""
    return [Row(f"b{i}", subs=[Row(f"b{i}.s{j}") for j in range(MAX_SUBS)]) for i in range(MAX_BUTTONS)]


def _fill(row: Row, button: Mapping[str, Any]) -> None:
    row.name = str(button.get("name", ""))
    row.type = str(button.get("type", ""))
    key_field = KEY_FIELD.get(row.type, "key")
    row.key = str(button.get(key_field, "") or button.get("key", ""))
    row.url, row.appid, row.pagepath = (str(button.get(k, "")) for k in ("url", "appid", "pagepath"))


def rows_from_buttons(buttons: list[dict[str, Any]]) -> list[Row]:
    """Editor rows for a saved menu (extra buttons beyond WeChat's limits are not shown)."""
    rows = empty_rows()
    for row, button in zip(rows, buttons[:MAX_BUTTONS], strict=False):
        subs = button.get("sub_button") or []
        if subs:
            row.name = str(button.get("name", ""))
            for sub_row, sub in zip(row.subs, subs[:MAX_SUBS], strict=False):
                _fill(sub_row, sub)
        else:
            _fill(row, button)
    return rows


def rows_from_form(form: Mapping[str, str]) -> list[Row]:
    """Editor rows exactly as submitted (for redisplay with errors)."""
    rows = empty_rows()
    for row in rows:
        for r in (row, *row.subs):
            for f in ROW_FIELDS:
                setattr(r, f, (form.get(f"{r.prefix}.{f}") or "").strip())
    return rows


def _button(row: Row) -> dict[str, Any]:
    out: dict[str, Any] = {"name": row.name}
    if row.type:
        out["type"] = row.type
    if row.type in KEY_FIELD:
        out[KEY_FIELD[row.type]] = row.key
    elif row.type in ("view", "miniprogram"):
        out["url"] = row.url
        if row.type == "miniprogram":
            out["appid"], out["pagepath"] = row.appid, row.pagepath
    elif not row.type and (row.key or row.url):
        out.update({k: v for k, v in (("key", row.key), ("url", row.url)) if v})
    return out


def buttons_from_rows(rows: list[Row]) -> tuple[list[dict[str, Any]], dict[tuple[int, int | None], Row]]:
    """WeChat's JSON buttons from the rows, and which row each JSON index came from."""
    buttons: list[dict[str, Any]] = []
    where: dict[tuple[int, int | None], Row] = {}
    for row in rows:
        if row.is_empty:
            continue
        subs = [s for s in row.subs if not s.is_empty]
        index = len(buttons)
        where[(index, None)] = row
        if subs:
            buttons.append({"name": row.name, "sub_button": [_button(s) for s in subs]})
            for j, sub in enumerate(subs):
                where[(index, j)] = sub
        else:
            buttons.append(_button(row))
    return buttons, where


def attach(problems: list[Any], where: dict[tuple[int, int | None], Row], translate: Any) -> list[str]:
    """Put each validator problem next to its row and field; return those that belong to no row."""
    general: list[str] = []
    for problem in problems:
        text = translate(problem.message, **(problem.params or {}))
        m = _PATH.match(problem.path or "")
        row = where.get((int(m.group(1)), int(m.group(2)) if m.group(2) else None)) if m else None
        if row is None:
            general.append(text)
            continue
        fld = m.group(3) if m and m.group(3) else "row"
        fld = "key" if fld in ("media_id", "article_id") else fld
        row.add_error(fld if fld in ROW_FIELDS else "row", text)
    return general
