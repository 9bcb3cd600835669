"""Message catalogs: every msgid in code and templates has a Chinese translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

from scrm.catalogs import merged_catalog

ROOT = Path(__file__).resolve().parents[2]
METHODS = [("scrm/**.py", "python"), ("handlers/**.py", "python"), ("templates/**.html", "jinja2"),
           ("templates/**.txt", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None, "N_": None}


def _msgids() -> dict[str, str]:
    found: dict[str, str] = {}
    for sub in ("scrm", "handlers", "templates"):
        for filename, _lineno, message, _comments, _ctx in extract_from_dir(
                str(ROOT / sub), method_map=[(p.split("/", 1)[1], m) for p, m in METHODS if p.startswith(sub)],
                keywords=KEYWORDS, options_map={"**.html": {"extensions": "jinja2.ext.i18n"},
                                                "**.txt": {"extensions": "jinja2.ext.i18n"}}):
            msgid = message if isinstance(message, str) else message[0]
            if msgid:
                found.setdefault(msgid, f"{sub}/{filename}")
    return found


def test_every_msgid_has_a_chinese_translation() -> None:
    catalog = merged_catalog("zh")
    missing = [f"{where}: {msgid!r}" for msgid, where in sorted(_msgids().items())
               if not (catalog.get(msgid) and catalog.get(msgid).string)]
    assert not missing, "untranslated msgids (add them to translations/zh/parts/<area>.po):\n" + "\n".join(missing)


def test_catalog_parts_compile() -> None:
    from io import BytesIO

    from babel.messages.mofile import write_mo

    buf = BytesIO()
    write_mo(buf, merged_catalog("zh"))
    assert buf.getvalue()[:4] in (b"\xde\x12\x04\x95", b"\x95\x04\x12\xde")
