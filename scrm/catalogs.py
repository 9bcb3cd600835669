"""Build the compiled message catalogs from the per-area .po sources in translations/<lang>/parts/.

Each area (admin, bot, sandbox, ...) keeps its own .po file, so features never edit one shared file;
this module merges them into translations/<lang>/LC_MESSAGES/messages.mo.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from scrm import ROOT

TRANSLATIONS = ROOT / "translations"


def _parts(lang_dir: Path) -> list[Path]:
    return sorted((lang_dir / "parts").glob("*.po"))


def merged_catalog(lang: str) -> Catalog:
    """All parts of `lang` in one catalog; a msgid translated twice differently is an error."""
    catalog = Catalog(locale=lang, domain="messages")
    seen: dict[str, tuple[str, str]] = {}
    for part in _parts(TRANSLATIONS / lang):
        with part.open("rb") as fh:
            for msg in read_po(fh, locale=lang):
                if not msg.id:
                    continue
                key = msg.id if isinstance(msg.id, str) else msg.id[0]
                text = msg.string if isinstance(msg.string, str) else "|".join(msg.string or ())
                if key in seen and seen[key][0] != text:
                    raise ValueError(f"{part.name}: {key!r} is translated differently in {seen[key][1]}")
                seen[key] = (text, part.name)
                catalog[msg.id] = msg
    return catalog


def build(force: bool = False) -> list[Path]:
    """Compile every language whose parts are newer than its .mo; return the files written."""
    written = []
    for lang_dir in sorted(p for p in TRANSLATIONS.iterdir() if p.is_dir()):
        parts = _parts(lang_dir)
        if not parts:
            continue
        mo = lang_dir / "LC_MESSAGES" / "messages.mo"
        newest = max(p.stat().st_mtime for p in parts)
        if not force and mo.exists() and mo.stat().st_mtime >= newest:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        tmp = mo.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, merged_catalog(lang_dir.name), use_fuzzy=False)
        tmp.replace(mo)
        written.append(mo)
    return written


if __name__ == "__main__":  # pragma: no cover
    for path in build(force="--force" in sys.argv):
        print(f"compiled {path.relative_to(ROOT)}")
