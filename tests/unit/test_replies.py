"""Reply XML: escaping, truncation, article limits, customer-service payloads."""

from __future__ import annotations

import pytest

from scrm.wechat.parse import parse_xml
from scrm.wechat.replies import (
    Article,
    NewsReply,
    TextReply,
    cdata,
    describe,
    to_custom_payload,
    to_xml,
    truncate_bytes,
)


def _xml(reply: TextReply | NewsReply, answering_message: bool = True) -> dict:
    return parse_xml(to_xml(reply, to_user="oUser", from_user="gh_acc", answering_message=answering_message,
                            create_time=1700000000))


def test_text_reply_swaps_addresses_and_carries_content() -> None:
    doc = _xml(TextReply("你好"))
    assert doc == {"ToUserName": "oUser", "FromUserName": "gh_acc", "CreateTime": "1700000000",
                   "MsgType": "text", "Content": "你好"}


@pytest.mark.parametrize("hostile", [
    "]]>", "a]]>b", "]]>]]>", "<script>", "</Content></xml><xml>", "]]]]><![CDATA[>", "&amp; &lt;",
    "]]><MsgType>news</MsgType><![CDATA[",
])
def test_user_text_cannot_break_the_xml(hostile: str) -> None:
    doc = _xml(TextReply(f"x{hostile}y"))
    assert doc["Content"] == f"x{hostile}y"
    assert doc["MsgType"] == "text"


def test_characters_xml_cannot_carry_are_removed() -> None:
    doc = _xml(TextReply("a\x00b\x08c\x1fd\ud800e\ufffff\tg\nh"))
    assert doc["Content"] == "abcdef\tg\nh"


def test_cdata_of_terminator_round_trips() -> None:
    assert parse_xml(f"<xml><A>{cdata(']]>')}</A></xml>")["A"] == "]]>"


def test_text_is_cut_to_2048_bytes_at_a_character_boundary() -> None:
    text = "汉" * 1000  # 3000 bytes
    cut = truncate_bytes(text)
    assert len(cut.encode("utf-8")) <= 2048
    assert cut.endswith("…")
    assert set(cut[:-1]) == {"汉"}
    assert _xml(TextReply(text))["Content"] == cut
    assert truncate_bytes("short") == "short"
    exact = "a" * 2048
    assert truncate_bytes(exact) == exact


def test_news_has_one_article_when_answering_a_message_and_up_to_eight_otherwise() -> None:
    news = NewsReply(tuple(Article(title=f"t{i}", url=f"http://x/{i}") for i in range(10)))
    one = _xml(news, answering_message=True)
    assert one["ArticleCount"] == "1"
    assert one["Articles"]["item"]["Title"] == "t0"
    eight = _xml(news, answering_message=False)
    assert eight["ArticleCount"] == "8"
    assert [i["Title"] for i in eight["Articles"]["item"]] == [f"t{i}" for i in range(8)]


def test_news_fields_are_escaped() -> None:
    doc = _xml(NewsReply((Article(title="A]]>B", description="<b>", url="http://x/?a=1&b=2", pic_url="p"),)))
    item = doc["Articles"]["item"]
    assert (item["Title"], item["Description"], item["Url"], item["PicUrl"]) == ("A]]>B", "<b>",
                                                                                 "http://x/?a=1&b=2", "p")


def test_custom_payloads() -> None:
    assert to_custom_payload(TextReply("hi")) == {"msgtype": "text", "text": {"content": "hi"}}
    news = NewsReply((Article("T", "D", "http://u", "http://p"), Article("T2")))
    assert to_custom_payload(news) == {"msgtype": "news", "news": {"articles": [
        {"title": "T", "description": "D", "url": "http://u", "picurl": "http://p"}]}}


def test_describe_for_the_log() -> None:
    assert describe(TextReply("hi")) == ("text", "hi")
    assert describe(NewsReply((Article("T", url="http://u"),))) == ("news", "T http://u")
    assert describe(None) == ("none", "")
