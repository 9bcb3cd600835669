"""Staff-written reply texts are small Jinja templates: check them strictly, render them safely.

Only `dealer` (name, phone, address, city) and `now` may be used, with plain output, if-conditions
and a few harmless filters. Loops, assignments, arithmetic and most filters are refused, because a
sandbox alone does not stop `{{ "x" * 10**9 }}` or nested loops from eating the bot's time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

ALLOWED_NAMES = frozenset({"dealer", "now"})
ALLOWED_FILTERS = frozenset({"default", "d", "upper", "lower", "title", "capitalize", "trim", "truncate",
                             "string"})
ALLOWED_METHODS = frozenset({"strftime"})
ALLOWED_FIELDS = {"dealer": frozenset({"name", "phone", "address", "city"}),
                  "now": frozenset({"year", "month", "day", "hour", "minute", "strftime"})}
_SAFE_NODES = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Getattr, nodes.Getitem,
               nodes.Const, nodes.If, nodes.CondExpr, nodes.Compare, nodes.Operand, nodes.And, nodes.Or,
               nodes.Not, nodes.Concat, nodes.Filter, nodes.Call, nodes.Test, nodes.Keyword)
MAX_BYTES = 2048

_env = SandboxedEnvironment(autoescape=False)


@dataclass(frozen=True)
class TemplateProblem:
    """Why a reply text is refused: an English msgid and its params."""

    message: str
    params: dict[str, object]


def check(text: str) -> TemplateProblem | None:
    """None when `text` is an acceptable reply template, else the first problem."""
    try:
        tree = _env.parse(text)
    except TemplateSyntaxError as exc:
        return TemplateProblem("The reply text is not a valid template (line %(line)s): %(error)s",
                               {"line": exc.lineno, "error": exc.message or ""})
    # Walk the tree before anything compiles it: Jinja's compiler folds constants, so even
    # find_undeclared_variables would evaluate {{ 'a' * 10**9 }} at save time.
    for node in tree.find_all(nodes.Node):
        problem = _check_node(node)
        if problem:
            return problem
    unknown = meta.find_undeclared_variables(tree) - ALLOWED_NAMES
    if unknown:
        return TemplateProblem("Only the variables dealer and now can be used, not: %(names)s",
                               {"names": ", ".join(sorted(unknown))})
    try:
        render(text, dealer=SAMPLE_DEALER, now=datetime(2025, 1, 1, 9, 30))
    except (SecurityError, UndefinedError, TypeError, ValueError, AttributeError) as exc:
        return TemplateProblem("The reply text cannot be rendered: %(error)s", {"error": str(exc)[:200]})
    return None


def _check_node(node: nodes.Node) -> TemplateProblem | None:
    if not isinstance(node, _SAFE_NODES):
        return TemplateProblem("The reply text may only insert values and use if-conditions; "
                               "%(what)s is not allowed.", {"what": type(node).__name__})
    if isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
        return TemplateProblem("The filter %(name)s is not allowed in a reply text.", {"name": node.name})
    if isinstance(node, nodes.Test) and node.name not in ("defined", "undefined", "none"):
        return TemplateProblem("The test %(name)s is not allowed in a reply text.", {"name": node.name})
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        base = node.node
        if isinstance(base, nodes.Name) and base.name not in ALLOWED_NAMES:
            return None  # reported below as an unknown variable, which says more to staff
        field = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        if not (isinstance(base, nodes.Name) and isinstance(field, str)
                and field in ALLOWED_FIELDS.get(base.name, frozenset())):
            return TemplateProblem("Unknown field %(name)s: use dealer.name, dealer.phone, dealer.address, "
                                   "dealer.city or now.", {"name": field if isinstance(field, str) else "?"})
    if isinstance(node, nodes.Call) and not (isinstance(node.node, nodes.Getattr)
                                             and node.node.attr in ALLOWED_METHODS):
        return TemplateProblem("The reply text may only call now.strftime(...).", {})
    return None


SAMPLE_DEALER = {"name": "示例4S店", "phone": "021-12345678", "address": "示例路1号", "city": "上海"}


def dealer_context(dealer: Any | None) -> dict[str, str]:
    """The `dealer` variable for a Dealer row (or the sample when there is none)."""
    if dealer is None:
        return dict(SAMPLE_DEALER)
    return {"name": dealer.name, "phone": dealer.phone, "address": dealer.address, "city": dealer.city}


def render(text: str, *, dealer: dict[str, str], now: datetime) -> str:
    """Render a checked reply template in the sandbox."""
    return _env.from_string(text).render(dealer=dealer, now=now)
