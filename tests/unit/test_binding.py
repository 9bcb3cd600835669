"""Pure parts of binding: the plate / VIN answer check, bind scenes, the consent wording."""

from __future__ import annotations

import pytest

from scrm.services.binding_codes import scene_for, token_of
from scrm.services.binding_verify import _answer_matches

PLATES = ["沪A12345", None]
VINS = ["LSVAU2180N2183294", None]


@pytest.mark.parametrize("answer", ["沪A12345", "沪a12345", " 沪A 12345 ", "沪A·12345", "183294", "183294 ",
                                    "n2183294"[-6:]])
def test_right_answers(answer: str) -> None:
    assert _answer_matches(answer, PLATES, VINS)


@pytest.mark.parametrize("answer", ["", "沪A12346", "沪B12345", "2183294", "83294", "12345", "LSVAU2180N2183294",
                                    "A12345"])
def test_wrong_answers(answer: str) -> None:
    assert not _answer_matches(answer, PLATES, VINS)


def test_no_vehicles_never_match() -> None:
    assert not _answer_matches("沪A12345", [], [])
    assert not _answer_matches("183294", [None], [None])


def test_bind_scenes_round_trip_and_reject_junk() -> None:
    token = "AbCdEfGhIjKlMnOp_-12"
    assert token_of(scene_for(token)) == token
    assert token_of("qrscene_" + scene_for(token)) == token          # a follow's EventKey
    for scene in ("dealer:SH001", "bind:", "bind:short", "bind:" + "x" * 40, "bind:has space in it!!", ""):
        assert token_of(scene) is None


def test_consent_wording_names_the_dealer_in_both_languages() -> None:
    from types import SimpleNamespace

    from scrm.wechat import render

    account = SimpleNamespace(name="测试品牌")
    dealer = SimpleNamespace(name="杭州滨江店")
    zh = render.render("zh", "binding/consent.txt", account=account, dealer=dealer)
    en = render.render("en", "binding/consent.txt", account=account, dealer=dealer)
    assert zh.startswith("联系授权") and "杭州滨江店" in zh and "测试品牌" in zh
    assert en.startswith("Consent to be contacted") and "杭州滨江店" in en
    generic = render.render("zh", "binding/consent.txt", account=account, dealer=None)
    assert "我选择的门店" in generic
