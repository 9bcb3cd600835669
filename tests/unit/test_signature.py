"""Plain request signatures (WECHAT.md §1.1) and the timestamp window."""

from __future__ import annotations

import time

from scrm.wechat import signature


def test_official_plain_signature_vector() -> None:
    assert signature.sign("AAAAA", "1714037059", "486452656") == "899cf89e464efb63f54ddac96b0a0a235f53aa78"


def test_sign_sorts_parts_so_order_does_not_matter() -> None:
    assert signature.sign("a", "b", "c") == signature.sign("c", "a", "b")


def test_verify_accepts_the_right_signature_in_any_case() -> None:
    sig = "899cf89e464efb63f54ddac96b0a0a235f53aa78"
    assert signature.verify(sig, "AAAAA", "1714037059", "486452656")
    assert signature.verify(sig.upper(), "AAAAA", "1714037059", "486452656")


def test_verify_rejects_wrong_malformed_and_empty_signatures() -> None:
    parts = ("AAAAA", "1714037059", "486452656")
    assert not signature.verify("899cf89e464efb63f54ddac96b0a0a235f53aa79", *parts)
    assert not signature.verify("899cf89e", *parts)
    assert not signature.verify("", *parts)
    assert not signature.verify("z" * 40, *parts)


def test_fresh_window_is_300_seconds_either_way() -> None:
    now = 1_700_000_000.0
    assert signature.fresh("1700000000", now)
    assert signature.fresh("1699999700", now)
    assert signature.fresh("1700000300", now)
    assert not signature.fresh("1699999699", now)
    assert not signature.fresh("1700000301", now)


def test_fresh_rejects_non_numeric_timestamps() -> None:
    for bad in ("", "abc", "-5", "1.5", "1" * 13, " 1700000000"):
        assert not signature.fresh(bad, 1_700_000_000.0)


def test_check_request_needs_signature_freshness_and_a_sane_nonce() -> None:
    ts = str(int(time.time()))
    good = signature.sign("tok", ts, "123")
    assert signature.check_request("tok", good, ts, "123")
    assert not signature.check_request("other", good, ts, "123")
    old = str(int(time.time()) - 301)
    assert not signature.check_request("tok", signature.sign("tok", old, "123"), old, "123")
    long_nonce = "9" * 65
    assert not signature.check_request("tok", signature.sign("tok", ts, long_nonce), ts, long_nonce)
    assert not signature.check_request("tok", signature.sign("tok", ts, ""), ts, "")
