"""WeChat's menu rules (WECHAT.md 4.6) as a pure validator and normaliser; no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

MAX_BUTTONS = 3
MAX_SUB_BUTTONS = 5
MAX_NAME_BYTES = 16
MAX_SUB_NAME_BYTES = 60
MAX_KEY_BYTES = 128
MAX_URL_BYTES = 1024
MAX_ID_BYTES = 128

KEY_TYPES = ("click", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin",
             "location_select")
# type -> the fields a leaf button of that type must carry
REQUIRED: dict[str, tuple[str, ...]] = {
    **{t: ("key",) for t in KEY_TYPES},
    "view": ("url",),
    "miniprogram": ("appid", "pagepath", "url"),
    "media_id": ("media_id",),
    "view_limited": ("media_id",),
    "article_id": ("article_id",),
    "article_view_limited": ("article_id",),
}
TYPES = tuple(REQUIRED)


def N_(msgid: str) -> str:
    """Mark a msgid for extraction; it is translated where it is shown."""
    return msgid


NOT_TEXT = N_("This field must be text.")
NAME_MISSING = N_("Enter a name.")
NAME_CONTROL = N_("The name must not contain line breaks or control characters.")
NAME_TOO_LONG = N_("The name is too long: %(size)d bytes, at most %(max)d (a Chinese character takes 3 bytes).")
BAD_LINK = N_("The link must start with http:// or https:// and name a site.")
TYPE_MISSING = N_("Choose what the button does.")
TYPE_UNKNOWN = N_("Unknown button type: %(type)s.")
VALUE_TOO_LONG = N_("This value is too long: %(size)d bytes, at most %(max)d.")
NOT_A_LIST = N_("The menu must be a list of buttons.")
BUTTON_COUNT = N_("The menu needs 1 to 3 buttons; it has %(count)d.")
BAD_BUTTON = N_("This button is not in a valid format.")
PARENT_WITH_TYPE = N_("A button with sub-buttons cannot have its own action.")
SUBS_NOT_A_LIST = N_("The sub-buttons must be a list.")
SUB_COUNT = N_("A button holds at most 5 sub-buttons; this one has %(count)d.")
NESTED_SUBS = N_("Sub-buttons cannot have sub-buttons of their own.")
NO_MENU = N_("There is no menu yet: add at least one button.")
_MISSING = {
    "key": N_("Enter a key for this button."),
    "url": N_("Enter a link for this button."),
    "appid": N_("Enter the mini program's AppID."),
    "pagepath": N_("Enter the mini program page path."),
    "media_id": N_("Enter the media ID."),
    "article_id": N_("Enter the article ID."),
}
_LIMITS = {"key": MAX_KEY_BYTES, "url": MAX_URL_BYTES, "appid": 32, "pagepath": MAX_URL_BYTES,
           "media_id": MAX_ID_BYTES, "article_id": MAX_ID_BYTES}


@dataclass(frozen=True)
class MenuProblem:
    """One thing wrong with a menu: where (`button[0].sub_button[2].name`, 0-based) and an English msgid."""

    path: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        """The English message with its parameters filled in (logs, the CLI)."""
        return self.message % self.params if self.params else self.message


def _size(value: str) -> int:
    return len(value.encode("utf-8"))


def _text(button: dict[str, Any], name: str, path: str, problems: list[MenuProblem]) -> str:
    """The stripped string value of a field ('' when absent); a non-string value is a problem."""
    value = button.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(MenuProblem(f"{path}.{name}", NOT_TEXT))
        return ""
    return value.strip()


def _check_name(button: dict[str, Any], path: str, limit: int, problems: list[MenuProblem]) -> None:
    name = _text(button, "name", path, problems)
    if not name:
        if isinstance(button.get("name", ""), str):
            problems.append(MenuProblem(f"{path}.name", NAME_MISSING))
        return
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        problems.append(MenuProblem(f"{path}.name", NAME_CONTROL))
    if _size(name) > limit:
        problems.append(MenuProblem(f"{path}.name", NAME_TOO_LONG, {"size": _size(name), "max": limit}))


def _check_url(value: str, path: str, problems: list[MenuProblem]) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(ch.isspace() for ch in value):
        problems.append(MenuProblem(path, BAD_LINK))


def _check_leaf(button: dict[str, Any], path: str, problems: list[MenuProblem]) -> None:
    kind = _text(button, "type", path, problems)
    if not kind:
        problems.append(MenuProblem(f"{path}.type", TYPE_MISSING))
        return
    if kind not in REQUIRED:
        problems.append(MenuProblem(f"{path}.type", TYPE_UNKNOWN, {"type": kind}))
        return
    for name in REQUIRED[kind]:
        value = _text(button, name, path, problems)
        if not value:
            if isinstance(button.get(name, ""), str):
                problems.append(MenuProblem(f"{path}.{name}", _MISSING[name]))
            continue
        if _size(value) > _LIMITS[name]:
            problems.append(MenuProblem(f"{path}.{name}", VALUE_TOO_LONG, {"size": _size(value), "max": _LIMITS[name]}))
        elif name == "url":
            _check_url(value, f"{path}.url", problems)


def _subs(button: dict[str, Any]) -> Any:
    """The sub_button value; an empty list (as menu/get returns for leaves) means none."""
    subs = button.get("sub_button")
    return None if subs in (None, []) else subs


def validate_menu(buttons: Any) -> list[MenuProblem]:
    """Every problem WeChat would reject (or that would confuse a follower); [] when the menu is fine."""
    problems: list[MenuProblem] = []
    if not isinstance(buttons, list):
        return [MenuProblem("button", NOT_A_LIST)]
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        problems.append(MenuProblem("button", BUTTON_COUNT,
                                    {"count": len(buttons)}))
    for i, button in enumerate(buttons[:MAX_BUTTONS + 2]):
        path = f"button[{i}]"
        if not isinstance(button, dict):
            problems.append(MenuProblem(path, BAD_BUTTON))
            continue
        subs = _subs(button)
        if subs is None:
            _check_name(button, path, MAX_NAME_BYTES, problems)
            _check_leaf(button, path, problems)
            continue
        _check_name(button, path, MAX_NAME_BYTES, problems)
        if button.get("type"):
            problems.append(MenuProblem(f"{path}.type", PARENT_WITH_TYPE))
        if not isinstance(subs, list):
            problems.append(MenuProblem(f"{path}.sub_button", SUBS_NOT_A_LIST))
            continue
        if len(subs) > MAX_SUB_BUTTONS:
            problems.append(MenuProblem(f"{path}.sub_button", SUB_COUNT, {"count": len(subs)}))
        for j, sub in enumerate(subs[:MAX_SUB_BUTTONS + 2]):
            sub_path = f"{path}.sub_button[{j}]"
            if not isinstance(sub, dict):
                problems.append(MenuProblem(sub_path, BAD_BUTTON))
                continue
            if _subs(sub) is not None:
                problems.append(MenuProblem(f"{sub_path}.sub_button",
                                            NESTED_SUBS))
                continue
            _check_name(sub, sub_path, MAX_SUB_NAME_BYTES, problems)
            _check_leaf(sub, sub_path, problems)
    return problems


def _leaf(button: dict[str, Any]) -> dict[str, Any]:
    kind = str(button.get("type", "")).strip()
    out: dict[str, Any] = {"type": kind, "name": str(button.get("name", "")).strip()}
    for name in REQUIRED.get(kind, ()):
        out[name] = str(button.get(name, "")).strip()
    return out


def normalize_menu(buttons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The menu in menu/create's shape with values stripped and stray fields dropped (validate first)."""
    out: list[dict[str, Any]] = []
    for button in buttons:
        subs = _subs(button)
        if subs is None:
            out.append(_leaf(button))
        else:
            out.append({"name": str(button.get("name", "")).strip(), "sub_button": [_leaf(s) for s in subs]})
    return out
