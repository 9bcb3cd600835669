"""Inbound XML -> `Inbound`, parsed ourselves for every type: ElementTree's C parser, then a dict in
xmltodict's shape (one child a value, repeated children a list, attributes as "@name", text beside
children as "#text"), without the layout whitespace.

Entities cannot reach the parser: a DOCTYPE or ENTITY declaration is refused before parsing, and the
body is always read as UTF-8 (the declared encoding ignored), so no other encoding can hide one.

Anything that WeChat itself would never send (not XML, a DOCTYPE, a root other than <xml>, missing
MsgType/FromUserName/CreateTime, non-numeric ids or coordinates, repeated fields) raises `BadMessage`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from xml.etree import ElementTree as ET

from scrm.wechat.inbound import Inbound

_OPENID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DIGITS = re.compile(r"^[0-9]{1,20}$")
_MSG_TYPE = re.compile(r"^[A-Za-z_]{1,32}$")
_FORBIDDEN = ("<!DOCTYPE", "<!ENTITY", "<!doctype", "<!entity")


class BadMessage(ValueError):
    """The body is not a well-formed WeChat push; `reason` says why (for the log, not the sender)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


MAX_DEPTH = 16  # WeChat's deepest push nests 4 levels


def _value(element: ET.Element, depth: int = 0) -> Any:
    """An element as xmltodict gives it: its text (None when empty), or a dict of attributes and children."""
    if depth > MAX_DEPTH:
        raise BadMessage("nested too deeply")
    if not len(element) and not element.attrib:
        return element.text or None
    out: dict[str, Any] = {"@" + k: v for k, v in element.attrib.items()}
    text = [element.text or ""]
    leaves_ok = depth < MAX_DEPTH
    for child in element:
        # A leaf's value inline (most of a push's fields): the same as _value(child) gives it.
        value = child.text or None if leaves_ok and not len(child) and not child.attrib else _value(child, depth + 1)
        tag = child.tag
        if tag in out:  # a repeated child: a list (a value is never a list otherwise)
            have = out[tag]
            if type(have) is list:
                have.append(value)  # in place: a body of many repeats stays linear
            else:
                out[tag] = [have, value]
        else:
            out[tag] = value
        text.append(child.tail or "")
    joined = "".join(text)
    if joined.strip():  # text beside children, not just the layout between them
        out["#text"] = joined
    return out or None


def parse_xml(body: bytes | str) -> dict[str, Any]:
    """The children of the <xml> root as a dict; BadMessage for anything else."""
    try:
        text = body if isinstance(body, str) else body.decode("utf-8")
    except UnicodeDecodeError as exc:  # WeChat sends UTF-8 only; a BOM of UTF-16 or UTF-32 ends here
        raise BadMessage("not UTF-8") from exc
    if not text.strip():
        raise BadMessage("empty body")
    if "\x00" in text:  # UTF-16 or UTF-32 without a BOM (never in XML text)
        raise BadMessage("NUL in body")
    if any(marker in text for marker in _FORBIDDEN):
        raise BadMessage("DOCTYPE or entity declaration")
    try:
        # Fed as text, the parser reads it as the text it is, whatever encoding the declaration names.
        # No DOCTYPE can be in it (refused above), so no entity can be declared: none of the attacks
        # defusedxml guards against can start, and its pure-Python parser would triple the cost.
        parser = ET.XMLParser()  # noqa: S314
        parser.feed(text)
        root = parser.close()
    except (ET.ParseError, ValueError, LookupError) as exc:
        raise BadMessage(f"malformed XML: {exc}") from exc
    # Text is kept exactly as sent (WeChat's samples have meaningful leading spaces).
    doc = _value(root)
    if root.tag != "xml" or not isinstance(doc, dict):
        raise BadMessage("root element is not <xml> or is empty")
    return doc


def _text(data: Mapping[str, Any], name: str, required: bool = False) -> str:
    value = data.get(name)
    if value is None:
        if required:
            raise BadMessage(f"missing {name}")
        return ""
    if not isinstance(value, str):
        raise BadMessage(f"{name} is not a single text value")
    return value


def _digits(data: Mapping[str, Any], name: str, required: bool = False) -> str:
    value = _text(data, name, required).strip()
    if value and not _DIGITS.match(value):
        raise BadMessage(f"{name} is not numeric")
    return value


def _float(data: Mapping[str, Any], name: str) -> float | None:
    value = _text(data, name).strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise BadMessage(f"{name} is not a number") from exc
    if number != number or number in (float("inf"), float("-inf")):
        raise BadMessage(f"{name} is not a finite number")
    return number


def _int(data: Mapping[str, Any], name: str) -> int | None:
    value = _digits(data, name)
    return int(value) if value else None


def _dict(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadMessage(f"{name} is not a structure")
    return value


def _items(value: Any) -> list[Any]:
    """One child comes as a value and several as a list: always a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _flat(item: Any, where: str) -> Mapping[str, str]:
    if not isinstance(item, dict):
        raise BadMessage(f"{where} item is not a structure")
    return MappingProxyType({str(k): v if isinstance(v, str) else "" for k, v in item.items()})


def _subscribe_msgs(data: Mapping[str, Any], event: str) -> tuple[Mapping[str, str], ...]:
    container = {"subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
                 "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
                 "subscribe_msg_sent_event": "SubscribeMsgSentEvent"}.get(event)
    if container is None:
        return ()
    return tuple(_flat(i, "List") for i in _items(_dict(data, container).get("List")))


def _pics(data: Mapping[str, Any]) -> tuple[str, ...]:
    pic_list = _dict(data, "SendPicsInfo").get("PicList")
    if pic_list is None:
        return ()
    if not isinstance(pic_list, dict):
        raise BadMessage("PicList is not a structure")
    return tuple(_flat(i, "PicList").get("PicMd5Sum", "") for i in _items(pic_list.get("item")))


def _counts(data: Mapping[str, Any]) -> Mapping[str, int]:
    names = {"TotalCount": "total", "FilterCount": "filter", "SentCount": "sent", "ErrorCount": "error"}
    return MappingProxyType({short: _int(data, tag) or 0 for tag, short in names.items() if tag in data})


# Optional single values: XML name -> (Inbound field, reader). Only the names a push carries are read
# (a text message has two of them), the rest keep the dataclass's defaults, which are what the readers
# give for an absent name.
_OPTIONAL: dict[str, tuple[str, Any]] = {
    **{name: (attr, _text) for name, attr in (
        ("Ticket", "ticket"), ("Content", "content"), ("MediaId", "media_id"), ("PicUrl", "pic_url"),
        ("Format", "format"), ("Recognition", "recognition"), ("ThumbMediaId", "thumb_media_id"),
        ("Label", "label"), ("Title", "title"), ("Description", "description"), ("Url", "url"),
        ("Status", "status"), ("MenuId", "menu_id"))},
    **{name: (attr, _float) for name, attr in (
        ("Location_X", "location_x"), ("Location_Y", "location_y"), ("Latitude", "latitude"),
        ("Longitude", "longitude"), ("Precision", "precision"))},
    "Scale": ("scale", _int),
}
_SUBSCRIBE_MSG_EVENTS = frozenset({"subscribe_msg_popup_event", "subscribe_msg_change_event",
                                   "subscribe_msg_sent_event"})


def to_inbound(account_slug: str, data: Mapping[str, Any]) -> Inbound:
    """Build the Inbound for one parsed push."""
    openid = _text(data, "FromUserName", required=True).strip()
    if not _OPENID.match(openid):
        raise BadMessage("FromUserName is not an openid")
    msg_type = _text(data, "MsgType", required=True).strip().lower()
    if not _MSG_TYPE.match(msg_type):
        raise BadMessage("MsgType is not a type name")
    create_time = int(_digits(data, "CreateTime", required=True))
    event = _text(data, "Event").strip().lower() if msg_type == "event" else ""
    key = _text(data, "EventKey")
    scene = ""
    if event == "subscribe" and key.startswith("qrscene_"):
        key = scene = key[len("qrscene_"):]
    elif event == "scan":
        scene = key
    fields: dict[str, Any] = {}
    for name in data:
        spec = _OPTIONAL.get(name)
        if spec is not None:
            fields[spec[0]] = spec[1](data, name)
    if "ScanCodeInfo" in data:
        scan = _dict(data, "ScanCodeInfo")
        fields["scan_type"], fields["scan_result"] = _text(scan, "ScanType"), _text(scan, "ScanResult")
    if "SendPicsInfo" in data:
        fields["pics"] = _pics(data)
    if "SendLocationInfo" in data:
        fields["send_location"] = _flat(_dict(data, "SendLocationInfo"), "SendLocationInfo")
    if event == "masssendjobfinish":
        fields["counts"] = _counts(data)
    if event in _SUBSCRIBE_MSG_EVENTS:
        fields["subscribe_msgs"] = _subscribe_msgs(data, event)
    return Inbound.build(
        account_slug=account_slug, openid=openid, to_user=_text(data, "ToUserName"), create_time=create_time,
        msg_type=msg_type, event=event, key=key, scene=scene,
        msg_id=_digits(data, "MsgId") or _digits(data, "MsgID"), raw=MappingProxyType(dict(data)), **fields)


def parse(account_slug: str, body: bytes | str) -> Inbound:
    """Parse a plaintext push body into an Inbound (BadMessage if it is not one)."""
    return to_inbound(account_slug, parse_xml(body))


def envelope_encrypt(body: bytes) -> str:
    """The <Encrypt> value of a safe- or compatible-mode body (BadMessage if absent)."""
    value = parse_xml(body).get("Encrypt")
    if not isinstance(value, str) or not value.strip():
        raise BadMessage("missing Encrypt")
    return value.strip()
