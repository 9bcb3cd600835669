"""The analytics pages: access, dealer scoping of the numbers, figure CSVs, period validation, the churn
list with its filters, export and follow-up action, and the analytics panel on the customer page (the admin default
language is Chinese, so texts are checked in Chinese)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask_babel import force_locale, gettext

from scrm import db
from scrm.db import utcnow
from scrm.models import (
    AnalyticsRun,
    AuditLog,
    ChurnBand,
    ChurnReason,
    CustomerScore,
    Dealer,
    Role,
    StatDaily,
    Task,
    TaskRule,
    ValueSegment,
)
from scrm.services.customer_profile import today
from tests.factories import make_dealer
from tests.integration.admin_support import post, signed_in, text
from tests.integration.customer_support import make_customer

pytestmark = pytest.mark.integration


def _stat(dealer: Dealer, metric: str, dim: str, value: int, day: date | None = None) -> None:
    with db.transaction() as s:
        s.add(StatDaily(account_id=dealer.account_id, dealer_id=dealer.id, day=day or today(), metric=metric,
                        dim=dim, value=value))


def _score(dealer: Dealer, score: int, reasons: int = 0, **kw: Any) -> CustomerScore:
    c = make_customer(dealer, **{k: kw.pop(k) for k in ("name", "mobile") if k in kw})
    values: dict[str, Any] = dict(churn_score=score, churn_band=ChurnBand.HIGH if score >= 60 else
                                  ChurnBand.MEDIUM if score >= 30 else ChurnBand.LOW, churn_reasons=reasons,
                                  value_segment=ValueSegment.IMPORTANT_KEEP, visits_24m=3,
                                  spend_24m=Decimal("12345.00"), r_score=2, f_score=4, m_score=5,
                                  last_visit_on=today() - timedelta(days=300))
    values.update(kw)
    with db.transaction() as s:
        sc = CustomerScore(account_id=dealer.account_id, dealer_id=dealer.id, customer_id=c.id, **values)
        s.add(sc)
    return sc


def _ran(dealer: Dealer, step: str) -> None:
    with db.transaction() as s:
        s.add(AnalyticsRun(account_id=dealer.account_id, step=step, finished_at=utcnow(), rows=1))


def test_staff_without_analytics_get_403(app: Any, client: Any) -> None:
    signed_in(client, Role.DEALER_STAFF)
    assert client.get("/admin/analytics/").status_code == 403
    assert client.get("/admin/analytics/churn").status_code == 403
    assert client.get("/admin/analytics/figure/funnel.csv").status_code == 403
    assert client.get("/admin/analytics/churn.csv").status_code == 403


def test_dealer_manager_sees_only_own_numbers(app: Any, client: Any) -> None:
    a, b = make_dealer(), make_dealer()
    _stat(a, "follows", "staff", 4321)
    _stat(b, "follows", "staff", 98765)
    _stat(a, "churn_bucket", "7", 37)
    _stat(b, "churn_bucket", "7", 55501)
    _ran(a, "aggregates")
    signed_in(client, Role.DEALER_MANAGER, dealer=a)
    resp = client.get("/admin/analytics/?days=7")
    assert resp.status_code == 200
    page = text(resp)
    assert "4,321" in page and "98,765" not in page and "98765" not in page
    assert "55,501" not in page
    # the churn bucket 70-79 links to the churn list filtered by that range
    assert "/admin/analytics/churn?min=70&amp;max=79" in page
    assert 'role="img"' in page and "CSV" in page


def test_brand_admin_dealer_picker_narrows(app: Any, client: Any) -> None:
    a, b = make_dealer(), make_dealer()
    _stat(a, "follows", "dealer", 4321)
    _stat(b, "follows", "dealer", 98765)
    signed_in(client, Role.BRAND_ADMIN)
    both = text(client.get("/admin/analytics/?days=7"))
    assert "103,086" in both    # 4,321 + 98,765 summed over dealers
    only_a = text(client.get(f"/admin/analytics/?days=7&dealer={a.id}"))
    assert "4,321" in only_a and "98,765" not in only_a
    assert client.get("/admin/analytics/?days=7&dealer=999999").status_code == 404


def test_figure_csv_has_bom_translated_header_and_rows(app: Any, client: Any) -> None:
    a = make_dealer()
    _stat(a, "follows", "staff", 12)
    _stat(a, "follows", "referral", 5)
    signed_in(client, Role.DEALER_MANAGER, dealer=a, language="zh")
    resp = client.get("/admin/analytics/figure/followers_by_scene.csv?days=7")
    assert resp.status_code == 200
    assert resp.data.startswith(b"\xef\xbb\xbf")
    start = today() - timedelta(days=6)
    assert f"followers_by_scene-{start:%Y%m%d}-{today():%Y%m%d}.csv" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    with app.test_request_context(), force_locale("zh"):
        assert rows[0] == [gettext("Source"), gettext("New follows")] and rows[0][0] == "来源"
    assert rows[1] == ["staff", "12"] and rows[2] == ["referral", "5"]
    assert client.get("/admin/analytics/figure/nope.csv").status_code == 404


@pytest.mark.parametrize(("query", "message"), [
    ("days=12", "请选择 7、30、90 或 365 天。"),
    ("from=2025-01-01", "请同时填写开始日期和结束日期。"),
    ("from=2025-13-01&to=2025-12-01", "日期格式应为 YYYY-MM-DD。"),
    ("from=2025-03-01&to=2025-02-01", "结束日期早于开始日期。"),
    ("from=2019-01-01&to=2024-01-01", "时间范围最长 3 年。"),
])
def test_period_validation(app: Any, client: Any, query: str, message: str) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    resp = client.get(f"/admin/analytics/?{query}")
    assert resp.status_code == 400
    assert message in text(resp)
    assert client.get(f"/admin/analytics/figure/funnel.csv?{query}").status_code == 400


def test_period_from_to_accepted(app: Any, client: Any) -> None:
    a = make_dealer()
    _stat(a, "follows", "event", 77, day=today() - timedelta(days=40))
    signed_in(client, Role.BRAND_ADMIN)
    start = today() - timedelta(days=45)
    page = text(client.get(f"/admin/analytics/?from={start.isoformat()}&to={today().isoformat()}"))
    assert "77" in page and start.isoformat() in page


def test_churn_list_filters_and_masks(app: Any, client: Any) -> None:
    a, b = make_dealer(), make_dealer()
    high = _score(a, 85, ChurnReason.OVERDUE | ChurnReason.IGNORED, name="王高危", mobile="13812345678",
                  overdue_days=120, expected_interval_days=180, ignored_pushes=3)
    _score(a, 45, ChurnReason.WARRANTY, name="李中等", warranty_expiry=date(2026, 12, 1))
    _score(a, 10, 0, name="赵低危", value_segment=ValueSegment.GENERAL_VALUE)
    _score(b, 99, ChurnReason.UNFOLLOWED, name="外店客户")
    client2 = client
    signed_in(client2, Role.DEALER_MANAGER, dealer=a, language="zh")
    page = text(client2.get("/admin/analytics/churn"))
    assert page.index("王高危") < page.index("李中等") < page.index("赵低危")
    assert "外店客户" not in page
    assert "保养逾期 120 天（通常每 180 天一次）" in page and "3 条推送未读" in page
    assert "质保 2026-12-01 到期" in page
    assert "13812345678" in page    # managers see whole numbers
    only_high = text(client2.get("/admin/analytics/churn?band=high"))
    assert "王高危" in only_high and "李中等" not in only_high
    by_reason = text(client2.get(f"/admin/analytics/churn?reason={int(ChurnReason.WARRANTY)}"))
    assert "李中等" in by_reason and "王高危" not in by_reason
    by_range = text(client2.get("/admin/analytics/churn?min=40&max=49"))
    assert "李中等" in by_range and "王高危" not in by_range and "赵低危" not in by_range
    by_segment = text(client2.get("/admin/analytics/churn?segment=general_value"))
    assert "赵低危" in by_segment and "王高危" not in by_segment
    by_name = text(client2.get("/admin/analytics/churn?q=王"))
    assert "王高危" in by_name and "李中等" not in by_name
    assert high.customer_id


def test_churn_csv_masks_phones_for_roles_without_phones(app: Any, client: Any) -> None:
    a = make_dealer()
    _score(a, 70, ChurnReason.LOW_RATING, name="钱满意", mobile="13812345678", low_rating=2)
    signed_in(client, Role.BRAND_ADMIN, language="zh")
    resp = client.get("/admin/analytics/churn.csv")
    body = resp.data.decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][:3] == ["客户", "电话", "流失风险分"]
    assert rows[1][0] == "钱满意" and rows[1][1] == "13812345678" and rows[1][2] == "70"
    assert "满意度 2 分" in rows[1][4]


def test_churn_task_action_creates_once(app: Any, client: Any) -> None:
    a = make_dealer()
    sc = _score(a, 90, ChurnReason.OVERDUE, overdue_days=30, expected_interval_days=180)
    signed_in(client, Role.DEALER_MANAGER, dealer=a)
    first = post(client, f"/admin/analytics/churn/{sc.customer_id}/task", follow=True)
    assert "已创建回访任务，2 天内完成。" in text(first)
    second = post(client, f"/admin/analytics/churn/{sc.customer_id}/task", follow=True)
    assert "该客户已有未完成的回访任务。" in text(second)
    tasks = db.session.scalars(sa.select(Task).where(Task.customer_id == sc.customer_id)).all()
    assert len(tasks) == 1
    t = tasks[0]
    assert t.rule == TaskRule.CHURN_RISK and t.due_on == today() + timedelta(days=2)
    assert t.dedupe_key == f"churn_risk:manual:{sc.customer_id}:{today().isoformat()}"
    assert db.session.scalar(sa.select(sa.func.count(AuditLog.id)).where(AuditLog.action == "task.create")) == 1
    assert "回访任务进行中" in text(client.get("/admin/analytics/churn"))


def test_churn_task_other_dealer_is_404(app: Any, client: Any) -> None:
    a, b = make_dealer(), make_dealer()
    other = _score(b, 90)
    signed_in(client, Role.DEALER_MANAGER, dealer=a)
    assert post(client, f"/admin/analytics/churn/{other.customer_id}/task").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0


def test_customer_panel_shows_scores_and_reasons(app: Any, client: Any) -> None:
    a = make_dealer()
    sc = _score(a, 72, ChurnReason.FALLING | ChurnReason.UNFOLLOWED, visits_last_12m=1, visits_prev_12m=4,
                unfollowed=True)
    signed_in(client, Role.DEALER_MANAGER, dealer=a, language="zh")
    page = text(client.get(f"/admin/customers/{sc.customer_id}"))
    assert 'id="analytics"' in page
    assert "重要保持客户" in page or "重要保持" in page
    assert "近 12 个月到店 1 次，之前 12 个月 4 次" in page and "已取消关注" in page
    assert "R 2 · F 4 · M 5" in page and "12,345" in page
