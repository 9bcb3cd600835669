"""Staff-written message templates: sandboxed Jinja2 over the recipient's fields, checked before use.

Staff may insert fields (`{{ customer.salutation }}`), use if-conditions and a few filters (dates, masked
names and plates, defaults). Loops, assignments, arithmetic, calls and unknown fields are refused when the
text is saved, because a sandbox alone does not stop `{{ "x" * 10**9 }}` from eating a worker's time.
Compiled templates are cached by their source, so rendering a million messages compiles each text once.
Rendering a checked text skips Jinja's per-call context merging (its globals are never used by a checked
text) and reads the recipient's plain-dict fields without the exception Jinja's getattr raises for them;
the sandbox still decides every other attribute access, and the output is the same byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from jinja2 import Template, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

FIELDS: dict[str, tuple[str, ...]] = {
    "customer": ("name", "surname", "salutation", "city", "birthday", "stage"),
    "vehicle": ("model", "brand", "plate", "purchase_date", "mileage", "last_service_date", "insurance_expiry",
                "next_service_date"),
    "member": ("balance", "tier", "referral_code"),
    "dealer": ("name", "phone", "address", "city"),
    "today": (),
}
ALLOWED_FILTERS = frozenset({"default", "d", "upper", "lower", "trim", "truncate", "string",
                             "date", "masked", "salutation"})
_SAFE_NODES = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Getattr, nodes.Const,
               nodes.If, nodes.CondExpr, nodes.Compare, nodes.Operand, nodes.And, nodes.Or, nodes.Not,
               nodes.Concat, nodes.Filter, nodes.Test, nodes.Keyword)
MAX_SOURCE = 4000


_DATE_CACHE_MAX = 20_000
_date_cache: dict[tuple[date, str], str] = {}


def _date(value: Any, fmt: str = "%Y-%m-%d") -> str:
    """A date or datetime as text ('' for none); `fmt` is strftime's."""
    if type(value) is date:   # plain dates repeat across recipients: format each (date, fmt) once
        key = (value, fmt)
        text = _date_cache.get(key)
        if text is None:
            if len(_date_cache) >= _DATE_CACHE_MAX:
                _date_cache.clear()
            text = _date_cache[key] = value.strftime(fmt)[:40]
        return text
    if isinstance(value, datetime | date):
        return value.strftime(fmt)[:40]
    return "" if value is None else str(value)


def masked(value: Any) -> str:
    """'张三丰' -> '张**', '沪A12345' -> '沪A***45', '13812345678' -> '138****5678'."""
    text = "" if value is None else str(value)
    if not text:
        return ""
    if text.isdigit() and len(text) == 11:
        return text[:3] + "****" + text[-4:]
    if len(text) >= 6 and any(c.isdigit() for c in text):
        return text[:2] + "*" * (len(text) - 4) + text[-2:]
    return text[0] + "*" * (len(text) - 1)


def salutation(name: Any, gender: str = "", language: str = "zh") -> str:
    """'张伟' + male -> '张先生'; without a name the polite general form."""
    text = ("" if name is None else str(name)).strip()
    if language == "en":
        if not text:
            return "Dear owner"
        return {"male": "Mr ", "female": "Ms "}.get(gender, "") + text
    if not text:
        return "尊敬的车主"
    if gender in ("male", "female") and all("\u4e00" <= c <= "\u9fff" for c in text):
        return text[0] + ("先生" if gender == "male" else "女士")
    return text


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Environment(SandboxedEnvironment):
    """The sandbox, with a direct path for a plain dict's key that is not also one of dict's attributes.

    For such a key Jinja's getattr fails on the attribute (a dict instance has only its type's attributes),
    then returns the item: this returns the same item without raising and catching that AttributeError.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


_env = _Environment(autoescape=False, keep_trailing_newline=False)
_env.filters["date"] = _date
_env.filters["masked"] = masked
_env.filters["salutation"] = salutation


@dataclass(frozen=True)
class Problem:
    """Why a text is refused: an English msgid and its params."""

    message: str
    params: dict[str, object]


def check(text: str) -> Problem | None:
    """None when `text` is an acceptable message template, else the first problem."""
    if len(text) > MAX_SOURCE:
        return Problem("The text is too long (at most %(n)s characters).", {"n": MAX_SOURCE})
    try:
        tree = _env.parse(text)
    except TemplateSyntaxError as exc:
        return Problem("The text is not a valid template (line %(line)s): %(error)s",
                       {"line": exc.lineno, "error": exc.message or ""})
    for node in tree.find_all(nodes.Node):
        problem = _check_node(node)
        if problem:
            return problem
    try:
        render(text, SAMPLE)
    except (SecurityError, UndefinedError, TypeError, ValueError, AttributeError) as exc:
        return Problem("The text cannot be rendered: %(error)s", {"error": str(exc)[:200]})
    return None


def _check_node(node: nodes.Node) -> Problem | None:
    if not isinstance(node, _SAFE_NODES):
        return Problem("Texts may only insert fields and use if-conditions; %(what)s is not allowed.",
                       {"what": type(node).__name__})
    if isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
        return Problem("The filter %(name)s is not allowed.", {"name": node.name})
    if isinstance(node, nodes.Test) and node.name not in ("defined", "undefined", "none"):
        return Problem("The test %(name)s is not allowed.", {"name": node.name})
    if isinstance(node, nodes.Name) and node.name not in FIELDS:
        return Problem("Unknown name %(name)s: use customer, vehicle, member, dealer or today.", {"name": node.name})
    if isinstance(node, nodes.Getattr):
        base = node.node
        if not (isinstance(base, nodes.Name) and node.attr in FIELDS.get(base.name, ())):
            return Problem("Unknown field %(name)s.", {"name": node.attr})
    return None


@lru_cache(maxsize=1024)
def _compiled(text: str) -> tuple[Template, bool]:
    """The compiled text, and whether it names only the message's fields (then no Jinja global can show)."""
    names = {n.name for n in _env.parse(text).find_all(nodes.Name)}   # (meta's count leaves out Jinja's globals)
    return _env.from_string(text), names <= FIELDS.keys()


def render(text: str, ctx: dict[str, Any]) -> str:
    """Render a checked text with a recipient's context (see scrm.services.compose_context)."""
    if "{" not in text:
        return text
    template, fields_only = _compiled(text)
    if not fields_only:
        return template.render(ctx).strip()
    # Template.render would copy the context into a new dict with Jinja's globals first; a text naming only
    # the fields resolves every name from `ctx` alone, so its root render function reads `ctx` directly.
    return _env.concat(template.root_render_func(Context(_env, ctx, template.name, template.blocks))).strip()


SAMPLE: dict[str, Any] = {
    "customer": {"name": "张伟", "surname": "张", "salutation": "张先生", "city": "上海",
                 "birthday": date(1985, 6, 1), "stage": "owner"},
    "vehicle": {"model": "Model Y 长续航版", "brand": "示例品牌", "plate": "沪A12345",
                "purchase_date": date(2023, 5, 20),
                "mileage": 23500, "last_service_date": date(2025, 11, 2), "insurance_expiry": date(2026, 12, 31),
                "next_service_date": date(2026, 5, 2)},
    "member": {"balance": 1280, "tier": "金卡会员", "referral_code": "AB12CD"},
    "dealer": {"name": "示例4S店", "phone": "021-12345678", "address": "示例路1号", "city": "上海"},
    "today": date(2026, 1, 1),
}
