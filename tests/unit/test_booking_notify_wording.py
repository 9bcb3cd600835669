"""The words of booking notices and of the satisfaction answer: translated, and rendering in both languages."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir

from scrm import ROOT
from scrm.catalogs import merged_catalog
from scrm.config import AccountSettings
from scrm.services import booking_notify_text as text
from scrm.wechat import render

NOTICES = ROOT / "templates" / "notices" / "booking"
SATISFACTION = ROOT / "templates" / "replies" / "satisfaction"
SH = ZoneInfo("Asia/Shanghai")
ACCOUNT = AccountSettings(slug="demo", name="测试品牌", app_id="wx1", app_secret="s", token="tok",
                          templates=(("booking_confirmed", "TID-1"),))
FACTS = text.Facts(booking_id=7, account=ACCOUNT, service="常规保养",
                   start_local=datetime(2026, 5, 23, 9, 30, tzinfo=SH),
                   completed_local=datetime(2026, 5, 23, 11, 0, tzinfo=SH), dealer="浦东旗舰店",
                   address="上海锦绣路100号", phone="021-66668888", demo_model="")
DATA = ("常规保养", "浦东旗舰店", "上海", "锦绣路100号")


def _msgids(directory: Path, method: str, pattern: str) -> set[str]:
    found = extract_from_dir(str(directory), method_map=[(pattern, method)],
                             options_map={pattern: {"extensions": "jinja2.ext.i18n"}})
    return {msg if isinstance(msg, str) else msg[0] for _, _, msg, *_ in found}


def test_every_msgid_has_a_chinese_translation() -> None:
    used = (_msgids(NOTICES, "jinja2", "**.txt") | _msgids(SATISFACTION, "jinja2", "**.txt")
            | _msgids(ROOT / "scrm" / "services", "python", "booking_notify*.py"))
    assert "Please rate this visit: reply 1-5 (5 is best)." in used and "Low satisfaction rating" in used
    catalog = merged_catalog("zh")
    missing = sorted(m for m in used if not getattr(catalog.get(m), "string", ""))
    assert missing == []
    question = catalog.get("Please rate this visit: reply 1-5 (5 is best).")
    assert question is not None and question.string == "请为本次服务打分：回复 1-5（5 分最满意）"


@pytest.mark.parametrize("kind", ["confirmed", "moved", "cancelled", "reminder", "rating"])
@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_notice_renders(kind: str, language: str) -> None:
    facts = dataclasses.replace(FACTS, account=dataclasses.replace(ACCOUNT, language=language))
    body = text.render(kind, facts, link="https://x.example/h5/demo/bookings", which="day_before", hours=2)
    assert "https://x.example/h5/demo/bookings" in body and "None" not in body
    if kind != "rating":
        assert "09:30" in body and "021-66668888" in body and "锦绣路100号" in body
    rest = body
    for value in DATA:
        rest = rest.replace(value, "")
    has_chinese = any("\u4e00" <= ch <= "\u9fff" for ch in rest)
    assert has_chinese == (language == "zh")


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize(("template", "values"), [("thanks.txt", {"score": 1, "dealer_name": "浦东旗舰店"}),
                                                  ("thanks.txt", {"score": 5, "dealer_name": "浦东旗舰店"}),
                                                  ("out_of_range.txt", {}), ("failed.txt", {})])
def test_every_satisfaction_reply_renders(language: str, template: str, values: dict[str, Any]) -> None:
    body = render.render(language, f"satisfaction/{template}", account=ACCOUNT, **values)
    assert body.strip()
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body.replace("浦东旗舰店", "")) == (language == "zh")


def test_payload_has_the_template_only_when_configured() -> None:
    with_template = text.payload("confirmed", "booking_confirmed", FACTS, "https://x/b", {"kind": "booking"})
    assert with_template["template"]["template_id"] == "TID-1" and with_template["guard"] == {"kind": "booking"}
    data = with_template["template"]["data"]
    assert data["time2"]["value"] == "2026年5月23日 09:30" and data["phone_number5"]["value"] == "021-66668888"
    without = text.payload("rating", "booking_rating", FACTS, "https://x/r")
    assert set(without) == {"custom"} and without["custom"]["msgtype"] == "text"
    rating = text.template_data("booking_rating", FACTS)
    assert rating["time3"]["value"] == "2026年5月23日 11:00" and len(rating["thing4"]["value"]) <= 20
