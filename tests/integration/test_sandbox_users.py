"""user/info, user/info/batchget, user/get and tags on the fake API."""

from __future__ import annotations

from typing import Any

import pytest

from scrm.sandbox import state
from tests.integration.sandbox_api import DEMO_APP, get, get_token, post

pytestmark = pytest.mark.integration


def test_user_info_for_followers_and_leavers(live_server: Any) -> None:
    state.add_follower(DEMO_APP, "oFan", scene="ADD_SCENE_QR_CODE")
    state.add_follower(DEMO_APP, "oGone", subscribed=False)
    tok = get_token(live_server)
    fan = get(live_server, "cgi-bin/user/info", tok, openid="oFan", lang="zh_CN")
    assert fan["subscribe"] == 1 and fan["openid"] == "oFan" and fan["subscribe_scene"] == "ADD_SCENE_QR_CODE"
    assert fan["tagid_list"] == [] and fan["subscribe_time"] > 0 and "nickname" not in fan
    assert get(live_server, "cgi-bin/user/info", tok, openid="oGone") == {"subscribe": 0, "openid": "oGone"}
    assert get(live_server, "cgi-bin/user/info", tok, openid="oStranger")["errcode"] == 40003
    assert get(live_server, "cgi-bin/user/info", tok)["errcode"] == 41009


def test_batchget_limits(live_server: Any) -> None:
    for i in range(101):
        state.add_follower(DEMO_APP, f"oUser{i:03d}")
    tok = get_token(live_server)
    hundred = [{"openid": f"oUser{i:03d}", "lang": "zh_CN"} for i in range(100)]
    answer = post(live_server, "cgi-bin/user/info/batchget", tok, {"user_list": hundred})
    assert [u["openid"] for u in answer["user_info_list"]] == [f"oUser{i:03d}" for i in range(100)]
    too_many = [*hundred, {"openid": "oUser100"}]
    assert post(live_server, "cgi-bin/user/info/batchget", tok, {"user_list": too_many})["errcode"] == 40032
    assert post(live_server, "cgi-bin/user/info/batchget", tok, {"user_list": []})["errcode"] == 40032
    bad = [{"openid": "oUser001"}, {"openid": "oNobody"}]
    assert post(live_server, "cgi-bin/user/info/batchget", tok, {"user_list": bad})["errcode"] == 40003


def test_user_get_pages_in_follow_order(live_server: Any) -> None:
    for name in ("oA", "oB", "oC"):
        state.add_follower(DEMO_APP, name)
    state.add_follower(DEMO_APP, "oLeft", subscribed=False)
    tok = get_token(live_server)
    page = get(live_server, "cgi-bin/user/get", tok)
    assert page["total"] == 3 and page["data"]["openid"] == ["oA", "oB", "oC"] and page["next_openid"] == ""
    assert get(live_server, "cgi-bin/user/get", tok, next_openid="oB")["data"]["openid"] == ["oC"]
    assert get(live_server, "cgi-bin/user/get", tok, next_openid="oLeft")["errcode"] == 40003
    state.set_quota(DEMO_APP, "user_get", 3)
    assert get(live_server, "cgi-bin/user/get", tok)["errcode"] == 45009


def test_tags_lifecycle(live_server: Any) -> None:
    state.add_follower(DEMO_APP, "oA")
    state.add_follower(DEMO_APP, "oB")
    tok = get_token(live_server)
    tag = post(live_server, "cgi-bin/tags/create", tok, {"tag": {"name": "轩逸车主"}})["tag"]
    assert tag["id"] >= 100 and tag["name"] == "轩逸车主"
    assert post(live_server, "cgi-bin/tags/create", tok, {"tag": {"name": "轩逸车主"}})["errcode"] == 45157
    assert post(live_server, "cgi-bin/tags/create", tok, {"tag": {"name": "星标组"}})["errcode"] == 45157
    assert post(live_server, "cgi-bin/tags/create", tok, {"tag": {"name": "长" * 31}})["errcode"] == 45158
    assert post(live_server, "cgi-bin/tags/create", tok, {"tag": {"name": " "}})["errcode"] == 45157
    body = {"openid_list": ["oA", "oB"], "tagid": tag["id"]}
    assert post(live_server, "cgi-bin/tags/members/batchtagging", tok, body)["errcode"] == 0
    assert get(live_server, "cgi-bin/user/info", tok, openid="oA")["tagid_list"] == [tag["id"]]
    tags = get(live_server, "cgi-bin/tags/get", tok)["tags"]
    assert {"id": tag["id"], "name": "轩逸车主", "count": 2} in tags
    members = post(live_server, "cgi-bin/user/tag/get", tok, {"tagid": tag["id"]})
    assert members["data"]["openid"] == ["oA", "oB"]
    untag = {"openid_list": ["oB"], "tagid": tag["id"]}
    assert post(live_server, "cgi-bin/tags/members/batchuntagging", tok, untag)["errcode"] == 0
    assert post(live_server, "cgi-bin/tags/getidlist", tok, {"openid": "oB"})["tagid_list"] == []
    renamed = {"tag": {"id": tag["id"], "name": "轩逸老车主"}}
    assert post(live_server, "cgi-bin/tags/update", tok, renamed)["errcode"] == 0
    assert post(live_server, "cgi-bin/tags/update", tok, {"tag": {"id": 2, "name": "x"}})["errcode"] == 45058
    assert post(live_server, "cgi-bin/tags/delete", tok, {"tag": {"id": tag["id"]}})["errcode"] == 0
    assert get(live_server, "cgi-bin/user/info", tok, openid="oA")["tagid_list"] == []
    assert post(live_server, "cgi-bin/tags/delete", tok, {"tag": {"id": tag["id"]}})["errcode"] == 45159


def test_tagging_limits(live_server: Any) -> None:
    for i in range(51):
        state.add_follower(DEMO_APP, f"oU{i}")
    state.add_follower(DEMO_APP, "oGone", subscribed=False)
    tok = get_token(live_server)
    tag_ids = [post(live_server, "cgi-bin/tags/create", tok, {"tag": {"name": f"标签{i}"}})["tag"]["id"]
               for i in range(21)]
    fifty_one = {"openid_list": [f"oU{i}" for i in range(51)], "tagid": tag_ids[0]}
    assert post(live_server, "cgi-bin/tags/members/batchtagging", tok, fifty_one)["errcode"] == 40032
    assert post(live_server, "cgi-bin/tags/members/batchtagging", tok,
                {"openid_list": ["oU0"], "tagid": 99999})["errcode"] == 45159
    assert post(live_server, "cgi-bin/tags/members/batchtagging", tok,
                {"openid_list": ["oU0", "oNobody"], "tagid": tag_ids[0]})["errcode"] == 40003
    assert post(live_server, "cgi-bin/tags/members/batchtagging", tok,
                {"openid_list": ["oGone"], "tagid": tag_ids[0]})["errcode"] == 43004
    for tid in tag_ids[:20]:
        assert post(live_server, "cgi-bin/tags/members/batchtagging", tok,
                    {"openid_list": ["oU0"], "tagid": tid})["errcode"] == 0
    assert post(live_server, "cgi-bin/tags/members/batchtagging", tok,
                {"openid_list": ["oU0"], "tagid": tag_ids[20]})["errcode"] == 45059


def test_at_most_100_tags(live_server: Any) -> None:
    tok = get_token(live_server)
    for i in range(100):
        assert "tag" in post(live_server, "cgi-bin/tags/create", tok, {"tag": {"name": f"t{i}"}})
    assert post(live_server, "cgi-bin/tags/create", tok, {"tag": {"name": "one more"}})["errcode"] == 45056
