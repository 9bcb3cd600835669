"""Every inbound type of WECHAT.md §2 in the official layout, and every malformed body."""

from __future__ import annotations

import pytest

from scrm.wechat.parse import BadMessage, envelope_encrypt, parse

HEAD = ("<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName>"
        "<CreateTime>1348831860</CreateTime>")


def msg(body: str) -> str:
    return HEAD + body + "</xml>"


def ev(name: str, extra: str = "") -> str:
    return msg(f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{name}]]></Event>{extra}")


def test_text() -> None:
    m = parse("demo", msg("<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[this is a test]]></Content>"
                          "<MsgId>1234567890123456</MsgId>"))
    assert (m.account_slug, m.openid, m.to_user, m.create_time) == ("demo", "fromUser", "toUser", 1348831860)
    assert (m.msg_type, m.content, m.msg_id, m.event) == ("text", "this is a test", "1234567890123456", "")
    assert m.is_message and not m.is_event
    assert m.dedupe_id == "1234567890123456"
    assert m.interaction_kind == "message"
    assert m.raw["Content"] == "this is a test"


def test_image() -> None:
    m = parse("demo", msg("<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://p/x.jpg]]></PicUrl>"
                          "<MediaId><![CDATA[media_1]]></MediaId><MsgId>1</MsgId>"))
    assert (m.msg_type, m.pic_url, m.media_id) == ("image", "http://p/x.jpg", "media_1")


def test_voice_with_recognition() -> None:
    m = parse("demo", msg("<MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[m]]></MediaId>"
                          "<Format><![CDATA[amr]]></Format><Recognition><![CDATA[腾讯微信团队]]></Recognition>"
                          "<MsgId>2</MsgId>"))
    assert (m.format, m.recognition, m.media_id) == ("amr", "腾讯微信团队", "m")


@pytest.mark.parametrize("kind", ["video", "shortvideo"])
def test_video_and_shortvideo(kind: str) -> None:
    m = parse("demo", msg(f"<MsgType><![CDATA[{kind}]]></MsgType><MediaId><![CDATA[m]]></MediaId>"
                          "<ThumbMediaId><![CDATA[t]]></ThumbMediaId><MsgId>3</MsgId>"))
    assert (m.msg_type, m.media_id, m.thumb_media_id) == (kind, "m", "t")


def test_location_message() -> None:
    m = parse("demo", msg("<MsgType><![CDATA[location]]></MsgType><Location_X>23.134521</Location_X>"
                          "<Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[位置信息]]></Label>"
                          "<MsgId>4</MsgId>"))
    assert (m.location_x, m.location_y, m.scale, m.label) == (23.134521, 113.358803, 20, "位置信息")


def test_link() -> None:
    m = parse("demo", msg("<MsgType><![CDATA[link]]></MsgType><Title><![CDATA[公众平台官网链接]]></Title>"
                          "<Description><![CDATA[desc]]></Description><Url><![CDATA[http://u]]></Url><MsgId>5</MsgId>"))
    assert (m.title, m.description, m.url) == ("公众平台官网链接", "desc", "http://u")


def test_plain_subscribe_and_unsubscribe() -> None:
    s = parse("demo", ev("subscribe"))
    assert (s.event, s.key, s.scene, s.interaction_kind) == ("subscribe", "", "", "follow")
    assert s.dedupe_id == "fromUser:1348831860:subscribe"
    u = parse("demo", ev("unsubscribe"))
    assert u.event == "unsubscribe" and u.interaction_kind is None


def test_subscribe_through_a_qr_scene_strips_the_prefix() -> None:
    m = parse("demo", ev("subscribe", "<EventKey><![CDATA[qrscene_dealer:SH001]]></EventKey>"
                                      "<Ticket><![CDATA[TICKET]]></Ticket>"))
    assert (m.key, m.scene, m.ticket) == ("dealer:SH001", "dealer:SH001", "TICKET")


def test_scan_keeps_the_scene_as_is() -> None:
    m = parse("demo", ev("SCAN", "<EventKey><![CDATA[SCENE_VALUE]]></EventKey><Ticket><![CDATA[T]]></Ticket>"))
    assert (m.event, m.key, m.scene, m.ticket) == ("scan", "SCENE_VALUE", "SCENE_VALUE", "T")
    assert m.interaction_kind == "scan"


def test_location_event() -> None:
    m = parse("demo", ev("LOCATION", "<Latitude>23.137466</Latitude><Longitude>113.352425</Longitude>"
                                     "<Precision>119.385040</Precision>"))
    assert (m.event, m.latitude, m.longitude, m.precision) == ("location", 23.137466, 113.352425, 119.38504)
    assert m.interaction_kind is None


def test_click_and_view() -> None:
    c = parse("demo", ev("CLICK", "<EventKey><![CDATA[EVENTKEY]]></EventKey>"))
    assert (c.event, c.key, c.interaction_kind) == ("click", "EVENTKEY", "click")
    v = parse("demo", ev("VIEW", "<EventKey><![CDATA[http://www.qq.com/]]></EventKey><MenuId>208379533</MenuId>"))
    assert (v.event, v.key, v.menu_id, v.interaction_kind) == ("view", "http://www.qq.com/", "208379533", None)


def test_two_clicks_in_one_second_are_different_pushes() -> None:
    a = parse("demo", ev("CLICK", "<EventKey><![CDATA[A]]></EventKey>"))
    b = parse("demo", ev("CLICK", "<EventKey><![CDATA[B]]></EventKey>"))
    assert a.dedupe_id != b.dedupe_id


@pytest.mark.parametrize("name", ["scancode_push", "scancode_waitmsg"])
def test_scancode_events(name: str) -> None:
    m = parse("demo", ev(name, "<EventKey><![CDATA[rselfmenu_0_1]]></EventKey><ScanCodeInfo>"
                               "<ScanType><![CDATA[qrcode]]></ScanType><ScanResult><![CDATA[1]]></ScanResult>"
                               "</ScanCodeInfo>"))
    assert (m.event, m.key, m.scan_type, m.scan_result, m.interaction_kind) == (name, "rselfmenu_0_1", "qrcode",
                                                                                 "1", "click")


def test_pic_events_with_one_and_several_pictures() -> None:
    one = parse("demo", ev("pic_sysphoto", "<EventKey><![CDATA[k]]></EventKey><SendPicsInfo><Count>1</Count>"
                                           "<PicList><item><PicMd5Sum><![CDATA[aaa]]></PicMd5Sum></item></PicList>"
                                           "</SendPicsInfo>"))
    assert one.pics == ("aaa",)
    many = parse("demo", ev("pic_weixin", "<EventKey><![CDATA[k]]></EventKey><SendPicsInfo><Count>2</Count>"
                                          "<PicList><item><PicMd5Sum><![CDATA[a]]></PicMd5Sum></item>"
                                          "<item><PicMd5Sum><![CDATA[b]]></PicMd5Sum></item></PicList>"
                                          "</SendPicsInfo>"))
    assert many.event == "pic_weixin" and many.pics == ("a", "b")


def test_location_select() -> None:
    m = parse("demo", ev("location_select", "<EventKey><![CDATA[k]]></EventKey><SendLocationInfo>"
                                            "<Location_X><![CDATA[23]]></Location_X><Location_Y><![CDATA[113]]>"
                                            "</Location_Y><Scale><![CDATA[15]]></Scale><Label><![CDATA[ 广州]]>"
                                            "</Label><Poiname><![CDATA[]]></Poiname></SendLocationInfo>"))
    assert m.send_location["Location_X"] == "23" and m.send_location["Label"] == " 广州"
    assert m.send_location["Poiname"] == ""


def test_template_job_finish() -> None:
    m = parse("demo", ev("TEMPLATESENDJOBFINISH", "<MsgID>200163836</MsgID><Status><![CDATA[failed: system failed]]>"
                                                  "</Status>"))
    assert (m.event, m.msg_id, m.status) == ("templatesendjobfinish", "200163836", "failed: system failed")
    assert m.is_system_event and m.interaction_kind is None
    assert m.dedupe_id.endswith(":200163836")


def test_mass_job_finish_counts() -> None:
    m = parse("demo", ev("MASSSENDJOBFINISH", "<MsgID>1988</MsgID><Status><![CDATA[send success]]></Status>"
                                              "<TotalCount>100</TotalCount><FilterCount>80</FilterCount>"
                                              "<SentCount>75</SentCount><ErrorCount>5</ErrorCount>"))
    assert (m.msg_id, m.status) == ("1988", "send success")
    assert dict(m.counts) == {"total": 100, "filter": 80, "sent": 75, "error": 5}


def _subscribe_msg(event: str, container: str, items: list[dict[str, str]]) -> str:
    body = "".join("<List>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in i.items()) + "</List>"
                   for i in items)
    return ev(event, f"<{container}>{body}</{container}>")


def test_subscribe_msg_popup_with_one_list_item() -> None:
    m = parse("demo", _subscribe_msg("subscribe_msg_popup_event", "SubscribeMsgPopupEvent", [
        {"TemplateId": "T1", "SubscribeStatusString": "accept", "PopupScene": "2"}]))
    assert m.event == "subscribe_msg_popup_event"
    assert [dict(i) for i in m.subscribe_msgs] == [{"TemplateId": "T1", "SubscribeStatusString": "accept",
                                                    "PopupScene": "2"}]


def test_subscribe_msg_popup_with_several_list_items() -> None:
    m = parse("demo", _subscribe_msg("subscribe_msg_popup_event", "SubscribeMsgPopupEvent", [
        {"TemplateId": "T1", "SubscribeStatusString": "accept"},
        {"TemplateId": "T2", "SubscribeStatusString": "reject"}]))
    assert [i["TemplateId"] for i in m.subscribe_msgs] == ["T1", "T2"]
    assert m.subscribe_msgs[1]["SubscribeStatusString"] == "reject"


def test_subscribe_msg_change_and_sent() -> None:
    c = parse("demo", _subscribe_msg("subscribe_msg_change_event", "SubscribeMsgChangeEvent", [
        {"TemplateId": "T1", "SubscribeStatusString": "reject"}]))
    assert c.subscribe_msgs[0]["SubscribeStatusString"] == "reject"
    s = parse("demo", _subscribe_msg("subscribe_msg_sent_event", "SubscribeMsgSentEvent", [
        {"TemplateId": "T1", "MsgID": "1700827132819554304", "ErrorCode": "0", "ErrorStatus": "success"},
        {"TemplateId": "T2", "MsgID": "1700827132819554305", "ErrorCode": "20001", "ErrorStatus": "failed"}]))
    assert [i["ErrorCode"] for i in s.subscribe_msgs] == ["0", "20001"]


def test_unknown_type_and_event_still_parse() -> None:
    assert parse("demo", msg("<MsgType><![CDATA[miniprogrampage]]></MsgType><MsgId>9</MsgId>")).msg_type == \
        "miniprogrampage"
    assert parse("demo", ev("debug_demo", "<debug_str><![CDATA[hello]]></debug_str>")).event == "debug_demo"


def test_envelope_encrypt_value() -> None:
    assert envelope_encrypt(b"<xml><ToUserName>x</ToUserName><Encrypt><![CDATA[abc=]]></Encrypt></xml>") == "abc="
    with pytest.raises(BadMessage):
        envelope_encrypt(b"<xml><ToUserName>x</ToUserName></xml>")


@pytest.mark.parametrize("body", [
    b"",
    b"   ",
    b"not xml",
    b"<xml><Content>unclosed</xml>",
    b"<root><MsgType>text</MsgType></root>",
    b"<xml/>",
    b"<xml></xml>",
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><FromUserName>&a;</FromUserName></xml>',
    b'<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Content>&xxe;</Content></xml>',
    b'<?xml version="1.0" encoding="no-such-encoding"?><xml><MsgType>text</MsgType></xml>',
    (HEAD + "</xml>").encode(),                                                       # no MsgType
    b"<xml><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>",                  # no FromUserName
    (HEAD.replace("1348831860", "soon") + "<MsgType>text</MsgType></xml>").encode(),  # non-numeric CreateTime
    msg("<MsgType>text</MsgType><Content>x</Content><MsgId>12ab</MsgId>").encode(),    # non-numeric MsgId
    msg("<MsgType>text</MsgType><Content>a</Content><Content>b</Content>").encode(),   # repeated field
    msg("<MsgType>event</MsgType><Event>LOCATION</Event><Latitude>north</Latitude>").encode(),
    msg("<MsgType>event</MsgType><Event>LOCATION</Event><Latitude>nan</Latitude>").encode(),
    msg("<MsgType>te xt</MsgType>").encode(),
    HEAD.replace("fromUser", "bad:openid").encode() + b"<MsgType>text</MsgType></xml>",
    b"<xml><a>" * 5 + b"</a></xml>",
])
def test_malformed_bodies_raise_bad_message(body: bytes) -> None:
    with pytest.raises(BadMessage):
        parse("demo", body)


def _xmltodict_shape(body: bytes) -> object:
    """The dict xmltodict gives (entities off, text kept) without the layout whitespace: the reference."""
    import xmltodict

    def drop_layout(node: object) -> object:
        if isinstance(node, list):
            return [drop_layout(n) for n in node]
        if not isinstance(node, dict):
            return node
        out = {k: drop_layout(v) for k, v in node.items()
               if not (k == "#text" and isinstance(v, str) and not v.strip())}
        return out or None

    return drop_layout(xmltodict.parse(body, disable_entities=True, strip_whitespace=False))["xml"]  # type: ignore[index]


@pytest.mark.parametrize("body", [
    msg("<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[ 前后有空格 ]]></Content><MsgId>1</MsgId>"),
    msg("<MsgType>text</MsgType><Content>   </Content><Empty></Empty><Self/>"),
    msg("<MsgType>event</MsgType>\n  <Event>subscribe_msg_popup_event</Event>\n  <SubscribeMsgPopupEvent>\n"
        "    <List><TemplateId>a</TemplateId><SubscribeStatusString>accept</SubscribeStatusString></List>\n"
        "    <List><TemplateId>b</TemplateId><SubscribeStatusString>reject</SubscribeStatusString></List>\n"
        "    <List><TemplateId>c</TemplateId></List>\n  </SubscribeMsgPopupEvent>\n"),
    msg("<MsgType>event</MsgType><SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum>x</PicMd5Sum></item>"
        "</PicList></SendPicsInfo>"),
    msg('<MsgType kind="x">text</MsgType><Note a="1" b="2"/><Mixed>head<B>bold</B>tail</Mixed>'
        "<Escaped>&lt;b&gt; &amp; &#20320;</Escaped>"),
])
def test_the_parsed_shape_is_xmltodicts(body: str) -> None:
    from scrm.wechat.parse import parse_xml

    assert parse_xml(body.encode()) == _xmltodict_shape(body.encode())


def test_nesting_deeper_than_any_push_is_refused() -> None:
    from scrm.wechat.parse import parse_xml

    with pytest.raises(BadMessage):
        parse_xml(("<xml><a>" + "<b>" * 40 + "x" + "</b>" * 40 + "</a></xml>").encode())


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_another_encoding_cannot_smuggle_a_doctype_past_the_check(encoding: str) -> None:
    from scrm.wechat.parse import parse_xml

    body = '<!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><FromUserName>&a;</FromUserName></xml>'
    with pytest.raises(BadMessage):
        parse_xml(body.encode(encoding))


def test_the_declared_encoding_is_ignored_the_body_is_read_as_utf8() -> None:
    from scrm.wechat.parse import parse_xml

    body = '<?xml version="1.0" encoding="ISO-8859-1"?><xml><Content>你好</Content></xml>'.encode()
    assert parse_xml(body) == {"Content": "你好"}


def test_a_body_of_many_repeated_children_keeps_them_all_in_order() -> None:
    from scrm.wechat.parse import parse_xml

    body = ("<xml>" + "".join(f"<a>{i}</a>" for i in range(20000)) + "</xml>").encode()  # under the 256 KiB cap
    assert parse_xml(body)["a"] == [str(i) for i in range(20000)]


def test_build_makes_the_same_inbound_as_the_constructor_and_keeps_it_frozen() -> None:
    import dataclasses

    from scrm.wechat.inbound import Inbound

    values = {"account_slug": "demo", "openid": "oBuild", "to_user": "gh", "create_time": 1, "msg_type": "event",
              "event": "location", "latitude": 31.2, "pics": ("a",)}
    built = Inbound.build(**values)
    assert built == Inbound(**values)  # type: ignore[arg-type]
    assert built.counts == {} and built.raw == {} and built.send_location == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.content = "x"  # type: ignore[misc]
    with pytest.raises(TypeError, match="no field 'nope'"):
        Inbound.build(**values, nope=1)
    with pytest.raises(TypeError, match="needs 'openid'"):
        Inbound.build(**{k: v for k, v in values.items() if k != "openid"})
