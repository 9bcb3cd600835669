"""The admin import page: upload → queued job → the worker imports it → counts and a scoped, audited report.

Refusals (role, size, type, CSRF) change nothing; a job left running by a dead worker is failed, not rerun.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.db import utcnow
from scrm.models import AuditLog, Customer, ImportJob, ImportStatus, Role
from scrm.outbox.worker import drain
from scrm.services.imports import jobs, storage
from tests.factories import make_dealer
from tests.integration.admin_support import csrf, signed_in, text

pytestmark = pytest.mark.integration
HEADER = ["客户编号", "姓名", "手机号码", "车架号", "车牌号", "车型"]
ROWS = [
    ["C001", "张伟", "13812345678", "LSVAM4186C2184841", "沪A12345", "帕萨特"],
    ["C002", "李娜", "13987654321", "", "", ""],
    ["C003", "赵强", "12345", "", "", ""],           # line 4: a bad mobile
    ["C004", "", "", "", "", ""],                    # line 5: neither name nor mobile
]


def csv_bytes(rows: list[list[str]] = ROWS) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def upload(client: Any, data: bytes, name: str = "客户.csv", token: str | None = None, **fields: Any) -> Any:
    form = {"file": (io.BytesIO(data), name), "csrf_token": token or csrf(client, "/admin/imports/"), **fields}
    return client.post("/admin/imports/", data=form, content_type="multipart/form-data")


def jobs_in_db() -> list[ImportJob]:
    db.session.remove()
    return list(db.session.scalars(sa.select(ImportJob).order_by(ImportJob.id)))


def test_manager_upload_is_queued_then_the_worker_imports_it(client: Any, app: Any, live_server: Any) -> None:
    dealer = make_dealer(code="D1", name="甲店")
    manager = signed_in(client, Role.DEALER_MANAGER, dealer=dealer)
    resp = upload(client, csv_bytes())
    assert resp.status_code == 303
    [job] = jobs_in_db()
    assert resp.headers["Location"].endswith(f"/admin/imports/{job.id}")
    # Queued, not run inside the request: no customer exists yet, the file sits in the job's folder.
    assert (job.status, job.dealer_id, job.filename, job.started_by) == (ImportStatus.QUEUED, dealer.id, "客户.csv",
                                                                        manager.id)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0
    assert storage.source_path(job.id, job.filename).read_bytes() == csv_bytes()
    page = text(client.get(f"/admin/imports/{job.id}"))
    assert "排队等待中" in page and 'data-status="queued"' in page
    assert client.get(f"/admin/imports/{job.id}/progress").get_json()["status"] == "queued"

    drain()

    [job] = jobs_in_db()
    assert (job.status, job.total, job.created, job.rejected, job.processed) == (ImportStatus.DONE, 4, 2, 2, 4)
    assert sorted(db.session.scalars(sa.select(Customer.name))) == ["张伟", "李娜"]
    state = client.get(f"/admin/imports/{job.id}/progress").get_json()
    assert state["finished"] and state["percent"] == 100 and state["report_url"].endswith(f"/{job.id}/report")
    report = client.get(state["report_url"])
    assert report.status_code == 200
    assert report.headers["Content-Disposition"] == (
        f"attachment; filename=\"import-{job.id}.rejected.csv\"; filename*=UTF-8''%E5%AE%A2%E6%88%B7.rejected.csv")
    assert report.mimetype == "text/csv" and report.headers["Cache-Control"] == "no-store"
    lines = list(csv.reader(io.StringIO(report.data.decode("utf-8-sig"))))
    assert [r[0] for r in lines[1:]] == ["4", "5"] and lines[1][3] == "赵强"
    actions = [(a.action, a.target_id, a.dealer_id) for a in db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action.startswith("import.")).order_by(AuditLog.id))]
    assert actions == [("import.start", str(job.id), dealer.id), ("import.report_download", str(job.id), dealer.id)]


def test_brand_admin_picks_the_dealer_and_a_header_map(client: Any, app: Any, live_server: Any) -> None:
    make_dealer(code="D1", name="甲店")
    other = make_dealer(code="D2", name="乙店")
    signed_in(client, Role.BRAND_ADMIN)
    data = "客户手机,客户名称\n13812345678,张伟\n".encode()
    header_map = b'[headers]\n"\xe5\xae\xa2\xe6\x88\xb7\xe6\x89\x8b\xe6\x9c\xba" = "mobile"\n' \
                 b'"\xe5\xae\xa2\xe6\x88\xb7\xe5\x90\x8d\xe7\xa7\xb0" = "name"\n'
    resp = upload(client, data, "map.csv", dealer_id=str(other.id), header_map=(io.BytesIO(header_map), "h.toml"))
    assert resp.status_code == 303
    drain()
    [job] = jobs_in_db()
    assert (job.status, job.dealer_id, job.created, job.rejected) == (ImportStatus.DONE, other.id, 1, 0)
    assert db.session.scalars(sa.select(Customer.dealer_id)).all() == [other.id]
    assert client.get(f"/admin/imports/{job.id}/progress").get_json()["report_url"] == ""
    assert client.get(f"/admin/imports/{job.id}/report").status_code == 404  # nothing was rejected


def test_brand_admin_must_choose_a_dealer_and_a_bad_header_map_is_refused(client: Any, app: Any,
                                                                         live_server: Any) -> None:
    dealer = make_dealer(code="D1", name="甲店")
    signed_in(client, Role.BRAND_ADMIN)
    resp = upload(client, csv_bytes())
    assert resp.status_code == 422 and "请选择这些客户所属的经销商" in text(resp)
    bad_map = (io.BytesIO(b'"x" = "shoe_size"'), "m.toml")
    resp = upload(client, csv_bytes(), dealer_id=str(dealer.id), header_map=bad_map)
    assert resp.status_code == 422 and "shoe_size" in text(resp)
    assert jobs_in_db() == [] and list(storage.import_root().glob("*/source.csv")) == []


def test_dealer_staff_may_view_but_not_start(client: Any, app: Any, live_server: Any) -> None:
    dealer = make_dealer(code="D1", name="甲店")
    signed_in(client, Role.DEALER_STAFF, dealer=dealer)
    page = text(client.get("/admin/imports/"))
    assert "数据导入" in page and 'id="import-form"' not in page
    resp = upload(client, csv_bytes(), token=csrf(client, "/admin/"))
    assert resp.status_code == 403
    assert jobs_in_db() == []


@pytest.mark.parametrize(("name", "data", "message"), [
    ("客户.xls", b"\xd0\xcf\x11\xe0" + b"x" * 100, "只能导入 .csv 和 .xlsx 文件"),
    ("客户.pdf", b"%PDF-1.4", "只能导入 .csv 和 .xlsx 文件"),
    ("客户.xlsx", "姓名\n张伟\n".encode(), "内容不是 Excel 工作簿"),
    ("客户.csv", b"PK\x03\x04" + b"\x00" * 100, "内容不是 CSV 文本"),
    ("客户.csv", b"", "文件是空的"),
    ("客户.csv", b"a" * (storage.MAX_UPLOAD_BYTES + 1), "文件超过 50 MB"),
])
def test_wrong_type_or_too_large_is_refused_and_nothing_is_created(client: Any, app: Any, live_server: Any,
                                                                    name: str, data: bytes, message: str) -> None:
    dealer = make_dealer(code="D1", name="甲店")
    signed_in(client, Role.DEALER_MANAGER, dealer=dealer)
    resp = upload(client, data, name)
    assert resp.status_code == 422
    assert message in text(resp) and "没有导入任何数据" in text(resp)
    assert jobs_in_db() == []
    assert [p for p in storage.import_root().glob("*/*") if p.name.startswith("source")] == []
    db.session.remove()
    assert db.session.scalars(sa.select(AuditLog.action).where(AuditLog.action == "import.start")).all() == []


def test_a_body_beyond_the_request_limit_gets_413(client: Any, app: Any, live_server: Any) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=make_dealer(code="D1"))
    token = csrf(client, "/admin/imports/")
    big = b"a" * (storage.MAX_UPLOAD_BYTES + storage.MAX_HEADER_MAP_BYTES + 512 * 1024)
    resp = client.post("/admin/imports/", data={"file": (io.BytesIO(big), "big.csv"), "csrf_token": token},
                       content_type="multipart/form-data")
    assert resp.status_code == 413 and "提交的内容过大" in text(resp)
    assert jobs_in_db() == []


def test_upload_without_csrf_token_is_refused(client: Any, app: Any, live_server: Any) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=make_dealer(code="D1"))
    resp = client.post("/admin/imports/", data={"file": (io.BytesIO(csv_bytes()), "a.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 400
    assert jobs_in_db() == []


def test_another_dealers_job_is_404_everywhere(client: Any, app: Any, live_server: Any) -> None:
    a = make_dealer(code="DA", name="甲店")
    b = make_dealer(code="DB", name="乙店")
    signed_in(client, Role.DEALER_MANAGER, dealer=b)
    assert upload(client, csv_bytes(), "乙店机密.csv").status_code == 303
    drain()
    [job] = jobs_in_db()
    assert job.rejected == 2
    client.post("/admin/logout", data={"csrf_token": csrf(client, "/admin/")})
    signed_in(client, Role.DEALER_MANAGER, dealer=a, username="a.manager")
    for path in ("", "/progress", "/report"):
        assert client.get(f"/admin/imports/{job.id}{path}").status_code == 404
    assert "乙店机密" not in text(client.get("/admin/imports/"))
    db.session.remove()
    assert db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "import.report_download")).all() == []


def test_an_unreadable_file_fails_with_the_reason(client: Any, app: Any, live_server: Any) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=make_dealer(code="D1"))
    assert upload(client, "颜色,尺码\n红,L\n".encode()).status_code == 303
    drain()
    [job] = jobs_in_db()
    assert (job.status, job.error) == (ImportStatus.FAILED, "文件中没有可识别的列标题（例如 姓名、手机、车牌、VIN）。")
    assert job.error in text(client.get(f"/admin/imports/{job.id}"))


def test_a_job_left_running_by_a_dead_worker_is_failed_not_restarted(client: Any, app: Any,
                                                                      live_server: Any) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=make_dealer(code="D1"))
    assert upload(client, csv_bytes()).status_code == 303
    job = jobs.claim_next("dead-worker:1")
    assert job is not None and job.status == ImportStatus.RUNNING
    assert jobs.claim_next("other-worker:2") is None  # claimed once only
    assert jobs.reap_stale_imports() == 0  # a fresh heartbeat is a live worker
    with db.transaction() as s:
        s.execute(sa.update(ImportJob).values(heartbeat_at=utcnow() - jobs.STALE_AFTER - timedelta(seconds=1)))
    from scrm.jobs.outbox_jobs import reap_stale

    assert reap_stale() == 1
    drain()
    [row] = jobs_in_db()
    assert row.status == ImportStatus.FAILED and "意外停止" in row.error
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0


def test_a_stop_between_batches_fails_the_job_with_a_clear_reason(client: Any, app: Any, live_server: Any) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=make_dealer(code="D1"))
    assert upload(client, csv_bytes()).status_code == 303
    assert jobs.run_next_import("stopping-worker", should_stop=lambda: False) is True
    assert upload(client, csv_bytes()).status_code == 303
    stops = iter([False, True])  # the first check lets the job start; the one after its first batch says stop
    assert jobs.run_next_import("stopping-worker", should_stop=lambda: next(stops)) is True
    first, second = jobs_in_db()
    assert first.status == ImportStatus.DONE
    assert second.status == ImportStatus.FAILED and "后台进程被停止" in second.error


def test_a_running_worker_imports_on_its_own_thread(client: Any, app: Any, live_server: Any) -> None:
    """`scrm worker` runs imports beside message sending (a big file must never hold up the outbox)."""
    import threading
    import time

    from scrm.outbox.worker import run_worker

    dealer = make_dealer(code="D7", name="庚店")
    signed_in(client, Role.DEALER_MANAGER, dealer=dealer)
    assert upload(client, csv_bytes()).status_code == 303
    stop = threading.Event()
    names: list[str] = []

    def work() -> None:
        with app.app_context():
            run_worker(stop=stop, name="t-worker")

    worker = threading.Thread(target=work)
    worker.start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            [job] = jobs_in_db()
            if job.status == ImportStatus.DONE:
                names.append(job.claimed_by)
                break
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(10)
    assert not worker.is_alive()
    assert names == ["t-worker/imports"]                 # claimed by the importer thread, not the send loop
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 2


def test_repair_order_upload_links_orders_and_reports_the_rest(client: Any, app: Any, live_server: Any) -> None:
    from tests.integration.customer_support import make_customer, make_vehicle

    dealer = make_dealer(code="D1", name="甲店")
    owner = make_customer(dealer, name="张伟", external_id="C001")
    make_vehicle(owner, vin="LSVAM4186C2184841", plate="沪A12345")
    signed_in(client, Role.DEALER_MANAGER, dealer=dealer)
    rows = "工单号,结算日期,维修类型,结算金额,车牌号,客户编号\n" \
           "RO1,2024-03-05,保养,\"¥1,200.00\",沪A12345,\n" \
           "RO2,2024-03-06,维修,-5,,C001\n" \
           "RO3,2024-03-07,钣喷,300,,C404\n"
    resp = upload(client, rows.encode("utf-8-sig"), "工单.csv", kind="repair_orders")
    assert resp.status_code == 303
    [job] = jobs_in_db()
    assert (job.kind.value, job.status) == ("repair_orders", ImportStatus.QUEUED)
    drain()
    [job] = jobs_in_db()
    assert (job.status, job.total, job.created, job.rejected) == (ImportStatus.DONE, 3, 1, 2)
    page = text(client.get(f"/admin/imports/{job.id}"))
    assert "新增工单" in page and "维修工单文件" in page
    report = client.get(f"/admin/imports/{job.id}/report")
    lines = list(csv.reader(io.StringIO(report.data.decode("utf-8-sig"))))
    assert [r[0] for r in lines[1:]] == ["3", "4"]
    assert lines[1][1].startswith("结算金额:") and "请先导入客户" in lines[2][1]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 1
