"""The bot's wording: every msgid of templates/replies and handlers has a Chinese translation in
translations/zh/parts/bot.po, and every template renders in both languages."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from scrm import ROOT
from scrm.wechat import render

REPLIES = ROOT / "templates" / "replies"
DEALER = SimpleNamespace(name="浦东店", city="上海", address="世纪大道1号", full_address="上海世纪大道1号",
                         phone="021-1", welcome_text="")
RESULT = SimpleNamespace(returning=False, dealer=DEALER, scene=SimpleNamespace(dealer_id=1), staff_name="王顾问",
                         referred=True)
VALUES: dict[str, Any] = {
    "account": SimpleNamespace(name="测试品牌", slug="demo"), "had_conversation": True, "buttons": ["联系门店"],
    "result": RESULT, "dealer": DEALER, "dealers": [DEALER], "is_text": True,
    # binding/*.txt
    "bound": SimpleNamespace(name="Wang", masked_mobile="138****0000", plates=("A12345",)), "tries_left": 3,
    "until": "11-23 08:00", "lead": False, "consent": "I agree.", "intro": "", "problem": "",
    "query": "上海", "more": True,
    # satisfaction/*.txt
    "score": 3,
    # referral/*.txt
    "url": "https://example.com/h5/demo/referral", "inviter": "W**",
    # marketing/*.txt, staff_link/*.txt
    "changed": True, "staff_name": "王顾问",
}
# Areas whose templates have their own render tests with their real values (tests/unit/test_booking_chat.py).
OWN_RENDER_TESTS = ("booking", "my_bookings", "nearby", "loyalty", "club")


def _msgids(directory: Path, method: str, pattern: str) -> set[str]:
    found = extract_from_dir(str(directory), method_map=[(pattern, method)],
                             options_map={pattern: {"extensions": "jinja2.ext.i18n"}})
    return {msg if isinstance(msg, str) else msg[0] for _, _, msg, *_ in found}


def test_every_bot_msgid_has_a_chinese_translation() -> None:
    used = _msgids(REPLIES, "jinja2", "**.txt") | _msgids(ROOT / "handlers", "python", "**.py") | \
        _msgids(ROOT / "scrm" / "wechat", "python", "**.py")
    assert used, "no msgids found: extraction is broken"
    translated: set[Any] = set()
    for part in ("bot.po", "binding.po", "bot_booking.po", "booking_notify.po", "h5_booking.po", "bot_loyalty.po",
                 "referral.po", "club.po", "compose.po", "tracking.po"):
        with (ROOT / "translations" / "zh" / "parts" / part).open("rb") as fh:
            translated |= {m.id for m in read_po(fh, locale="zh") if m.id and m.string}
    assert sorted(used - translated) == []


@pytest.mark.parametrize("template", sorted(str(p.relative_to(REPLIES)) for p in REPLIES.rglob("*.txt")
                                             if p.parent.name not in OWN_RENDER_TESTS))
@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_reply_template_renders(template: str, language: str) -> None:
    values = {**VALUES, "result": "4006001234"} if template == "events/scan_result.txt" else VALUES
    text = render.render(language, template, **values)
    assert text.strip() and "None" not in text and "namespace" not in text
    if language == "en":
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in text.replace("测试品牌", "").replace("浦东店", "")
                       .replace("上海", "").replace("世纪大道1号", "").replace("王顾问", "").replace("联系门店", "")
                       .replace("退订", "").replace("恢复推送", ""))  # the Chinese words the bot also accepts


def test_help_in_both_languages() -> None:
    zh = render.render("zh", "common/help.txt", **VALUES)
    en = render.render("en", "common/help.txt", **VALUES)
    assert "发送「联系门店」" in zh and 'Send "contact"' in en


def test_dealer_address_names_the_city_once() -> None:
    from scrm.services.dealer_cards import DealerCard

    card = DealerCard(id=1, code="A", name="n", city="上海", address="上海市浦东新区1号", phone="", welcome_text="")
    assert card.full_address == "上海市浦东新区1号"
    assert DealerCard(1, "A", "n", "上海", "世纪大道1号", "", "").full_address == "上海世纪大道1号"
    assert DealerCard(1, "A", "n", "上海", "", "", "").full_address == ""
