"""Every user-facing msgid of the admin area has a Chinese translation in the merged catalog."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from scrm import ROOT
from scrm.catalogs import merged_catalog

CODE = [*sorted((ROOT / "scrm" / "admin").glob("*.py"))] + [
    ROOT / "scrm" / "services" / f"{name}.py"
    for name in ("audit", "staff", "keyword_admin", "dealers", "follower_admin", "dashboard", "menu_admin",
                 "reply_template", "validation", "scope", "errors", "imports/jobs", "imports/storage",
                 "customer_admin", "customer_profile")]
TEMPLATES = sorted((ROOT / "templates" / "admin").rglob("*.html"))
MSG_CALLS = {"_", "gettext", "lazy_gettext", "Invalid", "DomainError", "TemplateProblem", "NotFound",
             "Forbidden", "UploadRefused"}
_TEMPLATE_MSG = re.compile(r"""\b_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _const(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def code_msgids(path: Path) -> set[str]:
    """Msgids in a Python module: gettext calls, domain errors, problems, nav labels, audit actions."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _name(node.func)
            args = node.args
            if name in MSG_CALLS and args:
                found.add(_const(args[0]) or "")
            elif name == "add" and len(args) >= 2:
                found.add(_const(args[1]) or "")
            elif name == "NavItem" and len(args) >= 3:
                found.add(_const(args[2]) or "")
            elif name == "add_group" and len(args) >= 2:
                found.add(_const(args[1]) or "")
        elif isinstance(node, ast.Assign) and any(_name(t) == "message" for t in node.targets):
            found.add(_const(node.value) or "")
        elif isinstance(node, ast.AnnAssign) and _name(node.target) == "ACTIONS" and isinstance(node.value, ast.Dict):
            found.update(_const(v) or "" for v in node.value.values)
    found.discard("")
    return found


def template_msgids(path: Path) -> set[str]:
    """Msgids of `_("...")` calls in a Jinja template."""
    text = path.read_text(encoding="utf-8")
    return {m.group(1) if m.group(1) is not None else m.group(2) for m in _TEMPLATE_MSG.finditer(text)}


def test_every_admin_msgid_has_a_chinese_translation() -> None:
    catalog = merged_catalog("zh")
    wanted: set[str] = set()
    for path in CODE:
        wanted |= code_msgids(path)
    for path in TEMPLATES:
        wanted |= template_msgids(path)
    assert len(wanted) > 200, "the extractor found too little: it is broken"
    missing = sorted(m for m in wanted if not (catalog.get(m) and catalog.get(m).string))
    assert not missing, "untranslated admin msgids:\n" + "\n".join(missing)
