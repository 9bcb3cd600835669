"""The built-in journey definitions: complete, ordered, and every default wording is a valid message."""

from __future__ import annotations

from datetime import date, time

import pytest

from scrm.models import CampaignChannel, JourneyKind
from scrm.services import compose, compose_env
from scrm.services.journey_defs import DEFS, parse_time, setting, valid_mmdd
from scrm.services.journey_enrol import season_days
from scrm.wechat.render import translations


def test_every_kind_is_defined_with_unique_step_keys() -> None:
    assert set(DEFS) == set(JourneyKind)
    for kind, d in DEFS.items():
        assert d.kind == kind and d.steps and d.label and d.exit_label
        keys = [st.key for st in d.steps]
        assert len(keys) == len(set(keys))
        assert [st.day for st in d.steps] == sorted(st.day for st in d.steps)   # materialised in order
        assert any(sd.key == "send_at" for sd in d.settings)


def test_step_days_match_the_issue() -> None:
    days = {k: [(st.key, st.day) for st in d.steps] for k, d in DEFS.items()}
    assert days[JourneyKind.WELCOME] == [("d0", 0), ("d7", 7), ("d30", 30)]
    assert days[JourneyKind.MAINTENANCE] == [("due", 0), ("reminder", 14)]
    assert days[JourneyKind.INSURANCE] == [("d30", -30), ("d7", -7)]
    assert days[JourneyKind.TEST_DRIVE] == [("d1", 1), ("d3", 3), ("d14", 14)]
    assert setting({}, DEFS[JourneyKind.BIRTHDAY], "send_at") == "09:00"
    assert setting({}, DEFS[JourneyKind.MAINTENANCE], "months") == 6
    assert setting({"km": 8000}, DEFS[JourneyKind.MAINTENANCE], "km") == 8000


@pytest.mark.parametrize("language", ["en", "zh"])
def test_default_wordings_pass_compose_and_render(language: str) -> None:
    tr = translations(language)
    for d in DEFS.values():
        for st in d.steps:
            text = tr.gettext(st.text)
            if language == "zh":
                assert text != st.text, f"untranslated: {st.text}"
            message = compose.normalise({"kind": "text", "text": text}, CampaignChannel.CUSTOM)
            rendered = compose.render(message, CampaignChannel.CUSTOM, compose_env.SAMPLE)
            assert not compose.problems(rendered, CampaignChannel.CUSTOM)
            assert "{{" not in rendered["text"]["content"]
            assert "021-12345678" in rendered["text"]["content"] or "示例4S店" in rendered["text"]["content"]


def test_satisfaction_asks_for_a_number_from_1_to_5() -> None:
    text = translations("zh").gettext(DEFS[JourneyKind.SATISFACTION].steps[0].text)
    assert "1" in text and "5" in text and "回复" in text


def test_time_and_date_parsing() -> None:
    assert parse_time("9:30") == time(9, 30) and parse_time("24:00") is None and parse_time("x") is None
    assert valid_mmdd("11-15") and valid_mmdd("02-29") and not valid_mmdd("02-30") and not valid_mmdd("13-01")
    assert not valid_mmdd("4-01")


def test_season_days_cover_a_missed_tick_and_the_new_year() -> None:
    assert season_days(["11-15"], date(2026, 11, 15)) == [date(2026, 11, 15)]
    assert season_days(["11-15"], date(2026, 11, 17)) == [date(2026, 11, 15)]
    assert season_days(["11-15"], date(2026, 11, 18)) == []
    assert season_days(["12-31"], date(2027, 1, 2)) == [date(2026, 12, 31)]
    assert season_days(["02-29"], date(2027, 2, 28)) == [date(2027, 2, 28)]
