"""Keyword replies in the admin: create, edit, enable/disable, delete, validation, permissions, audit."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, KeywordReply, MatchMode, ReplyKind, Role
from tests.factories import make_dealer, make_keyword
from tests.integration.admin_support import post, signed_in, text

pytestmark = pytest.mark.integration

GOOD = {"keyword": "保养", "match": "exact", "kind": "text", "text": "保养请拨打 {{ dealer.phone }}",
        "priority": "10", "dealer_id": "", "enabled": "y", "action": "save"}


def _rows() -> list[KeywordReply]:
    db.session.remove()
    return list(db.session.scalars(sa.select(KeywordReply).order_by(KeywordReply.id)))


def _actions() -> list[str]:
    db.session.remove()
    return list(db.session.scalars(sa.select(AuditLog.action).where(~AuditLog.action.startswith("auth."))
                                   .order_by(AuditLog.id)))


def test_brand_admin_creates_edits_toggles_and_deletes(client: Any) -> None:
    user = signed_in(client, Role.BRAND_ADMIN)
    dealer = make_dealer(name="苏州园区4S店", phone="0512-6666")
    resp = post(client, "/admin/keywords/new", {**GOOD, "dealer_id": str(dealer.id)})
    assert resp.status_code == 303
    [row] = _rows()
    assert (row.keyword, row.match, row.kind, row.dealer_id, row.priority, row.enabled, row.updated_by) == (
        "保养", MatchMode.EXACT, ReplyKind.TEXT, dealer.id, 10, True, user.id)
    listing = text(client.get("/admin/keywords/"))
    assert "关键词回复“保养”已创建。" in listing and "苏州园区4S店" in listing

    edit = {**GOOD, "dealer_id": str(dealer.id), "match": "contains", "text": "新的回复"}
    assert post(client, f"/admin/keywords/{row.id}/edit", edit).status_code == 303
    [row] = _rows()
    assert (row.match, row.text) == (MatchMode.CONTAINS, "新的回复")

    assert post(client, f"/admin/keywords/{row.id}/toggle", {"enabled": "0"}).status_code == 303
    assert _rows()[0].enabled is False
    assert post(client, f"/admin/keywords/{row.id}/toggle", {"enabled": "1"}).status_code == 303
    assert _rows()[0].enabled is True

    confirm = client.get(f"/admin/keywords/{row.id}/delete")
    assert confirm.status_code == 200 and "确定删除“保养”的回复吗" in text(confirm)
    assert _rows()  # asking changes nothing
    assert post(client, f"/admin/keywords/{row.id}/delete").status_code == 303
    assert _rows() == []
    assert _actions() == ["keyword.create", "keyword.update", "keyword.disable", "keyword.enable", "keyword.delete"]
    db.session.remove()
    update = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "keyword.update"))
    assert update is not None and update.dealer_id == dealer.id
    assert update.detail["changes"]["text"] == ["保养请拨打 {{ dealer.phone }}", "新的回复"]
    deleted = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "keyword.delete"))
    assert deleted is not None and deleted.detail["text"] == "新的回复"


def test_news_reply(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    data = {**GOOD, "kind": "news", "text": "ignored", "news_title": "本月保养 8 折",
            "news_description": "到店出示此消息", "news_url": "https://example.com/promo",
            "news_pic_url": "https://example.com/p.jpg"}
    assert post(client, "/admin/keywords/new", data).status_code == 303
    [row] = _rows()
    assert (row.kind, row.news_title, row.text, row.dealer_id) == (ReplyKind.NEWS, "本月保养 8 折", "", None)


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"keyword": ""}, "keyword", "关键词需为 1 到 60 个字符。"),
    ({"keyword": "长" * 61}, "keyword", "关键词需为 1 到 60 个字符。"),
    ({"text": "   "}, "text", "请输入回复内容。"),
    ({"text": "好" * 683}, "text", "回复内容为 2049 字节"),
    ({"text": "{{ dealer.name "}, "text", "模板语法有误"),
    ({"text": "{{ customer.phone }}"}, "text", "不能使用：customer"),
    ({"text": "{% for i in range(9) %}x{% endfor %}"}, "text", "不允许使用 For"),
    ({"text": "{{ 'x' * 99 }}"}, "text", "不允许使用 Mul"),
    ({"text": "{{ dealer.name|replace('a', 'b') }}"}, "text", "过滤器 replace"),
    ({"text": "{{ dealer.__class__ }}"}, "text", "未知字段 __class__"),
    ({"text": "{{ dealer.nmae }}"}, "text", "未知字段 nmae"),
    ({"text": "{{ now.strftime(1) }}"}, "text", "回复内容无法生成"),
    ({"priority": "abc"}, "priority", "优先级需为 0 到 999 之间的整数。"),
    ({"priority": "1000"}, "priority", "优先级需为 0 到 999 之间的整数。"),
    ({"match": "regex"}, "match", "请选择匹配方式。"),
    ({"kind": "voice"}, "kind", "请选择回复类型。"),
    ({"kind": "news", "news_title": ""}, "news_title", "请输入图文标题。"),
    ({"kind": "news", "news_title": "标" * 65, "news_url": "https://a.cn"}, "news_title", "标题最多 64 个字符。"),
    ({"kind": "news", "news_title": "t", "news_url": "javascript:alert(1)"}, "news_url", "以 http:// 或 https:// 开头"),
    ({"kind": "news", "news_title": "t", "news_url": "https://a.cn", "news_pic_url": "ftp://x/y.jpg"},
     "news_pic_url", "以 http:// 或 https:// 开头"),
    ({"dealer_id": "999999"}, "dealer_id", "请选择您管理的经销商。"),
])
def test_bad_input_is_refused_next_to_its_field(client: Any, change: dict[str, str], field: str, message: str) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    resp = post(client, "/admin/keywords/new", {**GOOD, **change})
    assert resp.status_code == 422
    page = text(resp)
    start = page.index(f'id="{field}"')
    assert message in page[start:start + 2500], page[start:start + 2500]
    assert _rows() == []
    assert _actions() == []


def test_all_problems_are_shown_at_once(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    page = text(post(client, "/admin/keywords/new", {**GOOD, "keyword": "", "text": "", "priority": "-5"}))
    assert "关键词需为" in page and "请输入回复内容。" in page and "优先级需为" in page


def test_duplicate_is_refused_but_other_dealer_or_mode_is_fine(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    dealer = make_dealer()
    make_keyword("价格", "请咨询")
    dup = post(client, "/admin/keywords/new", {**GOOD, "keyword": "价格"})
    assert dup.status_code == 422 and "已有相同关键词和匹配方式的回复" in text(dup)
    assert post(client, "/admin/keywords/new", {**GOOD, "keyword": "价格", "match": "contains"}).status_code == 303
    for_dealer = {**GOOD, "keyword": "价格", "dealer_id": str(dealer.id)}
    assert post(client, "/admin/keywords/new", for_dealer).status_code == 303
    assert len(_rows()) == 3


def test_editing_keeps_its_own_keyword(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    row = make_keyword("保养", "旧")
    assert post(client, f"/admin/keywords/{row.id}/edit", {**GOOD, "text": "新"}).status_code == 303
    assert _rows()[0].text == "新"


def test_preview_renders_with_the_dealer_and_saves_nothing(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    dealer = make_dealer(name="宁波4S店", phone="0574-1234")
    resp = post(client, "/admin/keywords/new", {**GOOD, "dealer_id": str(dealer.id), "action": "preview",
                                                "text": "{{ dealer.name }} 电话 {{ dealer.phone }}"})
    assert resp.status_code == 200
    assert '<div class="bubble">宁波4S店 电话 0574-1234</div>' in text(resp)
    account_wide = post(client, "/admin/keywords/new", {**GOOD, "action": "preview", "text": "{{ dealer.name }}"})
    assert '<div class="bubble">示例4S店</div>' in text(account_wide)
    bad = post(client, "/admin/keywords/new", {**GOOD, "action": "preview", "text": "{{ x }}"})
    assert "不能使用：x" in text(bad)
    assert _rows() == []


def test_user_text_is_escaped_in_pages(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    make_keyword("<script>alert(1)</script>", "<b>hi</b>")
    page = text(client.get("/admin/keywords/"))
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_manager_edits_own_dealer_only(client: Any) -> None:
    mine, theirs = make_dealer(), make_dealer()
    shared = make_keyword("营业时间", "9-18")
    own = make_keyword("店内活动", "周六", dealer_id=mine.id)
    other = make_keyword("店内活动", "周日", dealer_id=theirs.id)
    signed_in(client, Role.DEALER_MANAGER, dealer=mine)
    listing = text(client.get("/admin/keywords/"))
    assert "营业时间" in listing and "周六" in listing and "周日" not in listing

    # A new reply is always for the manager's own dealer, whatever the form says.
    assert post(client, "/admin/keywords/new", {**GOOD, "dealer_id": str(theirs.id)}).status_code == 303
    created = _rows()[-1]
    assert created.dealer_id == mine.id
    change = {**GOOD, "keyword": "店内活动", "text": "改"}
    assert post(client, f"/admin/keywords/{own.id}/edit", change).status_code == 303
    # Account-wide replies: readable, not writable.
    view = client.get(f"/admin/keywords/{shared.id}/edit")
    assert view.status_code == 200 and "您可以查看这条回复，但不能修改。" in text(view)
    assert post(client, f"/admin/keywords/{shared.id}/edit", GOOD).status_code == 403
    assert post(client, f"/admin/keywords/{shared.id}/toggle", {"enabled": "0"}).status_code == 403
    assert post(client, f"/admin/keywords/{shared.id}/delete").status_code == 403
    # Another dealer's reply does not exist for them.
    assert client.get(f"/admin/keywords/{other.id}/edit").status_code == 404
    assert post(client, f"/admin/keywords/{other.id}/delete").status_code == 404
    texts = {r.id: (r.text, r.enabled) for r in _rows()}
    assert texts[shared.id] == ("9-18", True) and texts[other.id] == ("周日", True) and texts[own.id][0] == "改"


def test_dealer_staff_reads_only(client: Any) -> None:
    dealer = make_dealer()
    own = make_keyword("店内活动", "周六", dealer_id=dealer.id)
    signed_in(client, Role.DEALER_STAFF, dealer=dealer)
    assert client.get("/admin/keywords/").status_code == 200
    assert client.get(f"/admin/keywords/{own.id}/edit").status_code == 200
    assert post(client, "/admin/keywords/new", GOOD).status_code == 403
    assert post(client, f"/admin/keywords/{own.id}/edit", GOOD).status_code == 403
    assert post(client, f"/admin/keywords/{own.id}/toggle", {"enabled": "0"}).status_code == 403
    assert post(client, f"/admin/keywords/{own.id}/delete").status_code == 403
    assert [(r.text, r.enabled) for r in _rows()] == [("周六", True)]
    assert _actions() == []


def test_list_filters_and_pages(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    dealer = make_dealer()
    for i in range(55):
        make_keyword(f"词{i:02d}", f"回复{i}", enabled=i % 5 != 0)
    make_keyword("店里的", "x", dealer_id=dealer.id)
    first = text(client.get("/admin/keywords/"))
    assert first.count("data-keyword=") == 50 and "第 1–50 条，共 56 条" in first
    second = text(client.get("/admin/keywords/?page=2"))
    assert second.count("data-keyword=") == 6
    assert text(client.get("/admin/keywords/?q=词07")).count("data-keyword=") == 1
    assert text(client.get("/admin/keywords/?state=off")).count("data-keyword=") == 11
    assert text(client.get(f"/admin/keywords/?dealer={dealer.id}")).count("data-keyword=") == 1
    assert text(client.get("/admin/keywords/?dealer=0")).count("data-keyword=") == 50
    assert text(client.get("/admin/keywords/?q=%25")).count("data-keyword=") == 0  # LIKE wildcards are literal
    empty = text(client.get("/admin/keywords/?q=nothing-like-this"))
    assert "没有符合筛选条件的关键词回复。" in empty
