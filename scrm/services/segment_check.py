"""Checking a segment definition from the builder: known fields, allowed operators, sane values.

`normalise` returns a clean copy that `scrm.services.segment_compile` can compile without further checks.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from scrm.services.errors import Invalid
from scrm.services.segment_fields import MAX_DEPTH, MAX_LIST, MAX_RULES, NO_VALUE, Field, Kind, field


def normalise(definition: Any, *, brand: bool = True) -> dict[str, Any]:
    """A checked copy of `definition`; raises Invalid (an English msgid) on the first problem."""
    counter = [0]
    out = _group(definition, 1, counter, brand)
    if counter[0] == 0:
        raise Invalid("Add at least one condition.", field="definition")
    return out


def _group(node: Any, depth: int, counter: list[int], brand: bool) -> dict[str, Any]:
    if not isinstance(node, dict) or not isinstance(node.get("rules"), list):
        raise Invalid("The segment definition is not valid.", field="definition")
    if depth > MAX_DEPTH:
        raise Invalid("Groups can be nested at most %(n)s deep.", field="definition", n=MAX_DEPTH)
    match = node.get("match", "all")
    if match not in ("all", "any"):
        raise Invalid("The segment definition is not valid.", field="definition")
    rules: list[dict[str, Any]] = []
    for item in node["rules"]:
        if isinstance(item, dict) and "rules" in item:
            sub = _group(item, depth + 1, counter, brand)
            if sub["rules"]:
                rules.append(sub)
        else:
            counter[0] += 1
            if counter[0] > MAX_RULES:
                raise Invalid("A segment can have at most %(n)s conditions.", field="definition", n=MAX_RULES)
            rules.append(_rule(item, brand))
    return {"match": match, "rules": rules}


def _bad(f: Field, message: str = "Check the value of “%(field)s”.") -> Invalid:
    return Invalid(message, field=f.key, field_key=f.key)


def _rule(item: Any, brand: bool) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise Invalid("The segment definition is not valid.", field="definition")
    f = field(str(item.get("field", "")))
    if f is None or (f.brand_only and not brand):
        raise Invalid("Unknown field: %(name)s", field="definition", name=str(item.get("field", ""))[:40])
    op = str(item.get("op", ""))
    if op not in f.ops:
        raise _bad(f, "Choose a condition for “%(field)s”.")
    out: dict[str, Any] = {"field": f.key, "op": op}
    if op in NO_VALUE:
        return out
    out["value"] = _value(f, op, item.get("value"))
    if f.kind == Kind.COUNT and item.get("days") not in (None, ""):
        out["days"] = _int(f, item.get("days"), 1, 3650)
    return out


def _int(f: Field, raw: Any, lo: int, hi: int) -> int:
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        raise _bad(f) from None
    if not lo <= value <= hi:
        raise _bad(f)
    return value


def _num(f: Field, raw: Any) -> float:
    try:
        value = float(str(raw).strip())
    except (TypeError, ValueError):
        raise _bad(f) from None
    if not -1e12 < value < 1e12:
        raise _bad(f)
    return int(value) if value.is_integer() else value


def _day(f: Field, raw: Any) -> str:
    try:
        return date.fromisoformat(str(raw).strip()).isoformat()
    except ValueError:
        raise _bad(f, "Enter dates as YYYY-MM-DD for “%(field)s”.") from None


def _value(f: Field, op: str, raw: Any) -> Any:
    if f.kind == Kind.BOOL:
        if raw in (True, "true", "1", 1, "yes"):
            return True
        if raw in (False, "false", "0", 0, "no"):
            return False
        raise _bad(f)
    if f.kind == Kind.COUNT:
        return _int(f, raw, 0, 100000)
    if op == "between":
        if not isinstance(raw, list | tuple) or len(raw) != 2:
            raise _bad(f)
        pair = [_day(f, v) if f.kind == Kind.DATE else _num(f, v) for v in raw]
        if pair[0] > pair[1]:  # type: ignore[operator]
            raise _bad(f, "The first value of “%(field)s” must not be after the second.")
        return pair
    if op in ("within_last_days", "not_within_last_days", "within_next_days"):
        return _int(f, raw, 0, 36500)
    if f.kind == Kind.DATE:
        return _day(f, raw)
    if f.kind == Kind.NUMBER:
        return _num(f, raw)
    if op in ("in", "not_in", "has_any", "has_all", "has_none"):
        values = raw if isinstance(raw, list | tuple) else [v for v in str(raw or "").replace("，", ",").split(",")]
        cleaned = [str(v).strip()[:100] for v in values if str(v).strip()]
        if f.choices == "dealer":
            cleaned = [str(_int(f, v, 1, 2**31)) for v in cleaned]
        if not cleaned or len(cleaned) > MAX_LIST:
            raise _bad(f, "Give between 1 and 200 values for “%(field)s”.")
        return list(dict.fromkeys(cleaned))
    text = str(raw or "").strip()[:100]
    if not text:
        raise _bad(f)
    return text
