"""Imports started from the admin, run in the background by the worker.

An upload is stored under `<import_dir>/<job id>/` and its ImportJob row written `queued`; the request
returns at once. A worker claims the oldest queued job (SKIP LOCKED on PostgreSQL, a conditional update on
SQLite, as the outbox does), runs it batch by batch and writes its progress and a heartbeat after each
batch. A job whose heartbeat stops (its worker crashed or was killed) is marked failed by the reaper,
never restarted: the dealer sees why and uploads the file again (the upsert is idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

import sqlalchemy as sa

from scrm import db
from scrm.db import utcnow
from scrm.models import Dealer, ImportJob, ImportKind, ImportStatus, StaffUser
from scrm.services import audit
from scrm.services.errors import DomainError, Forbidden, Invalid, NotFound
from scrm.services.imports import storage
from scrm.services.imports.readers import open_table
from scrm.services.imports.repair_rows import map_repair_headers
from scrm.services.imports.run import import_into_job, load_header_map
from scrm.services.normalize import map_headers
from scrm.services.scope import Perm, Scope
from scrm.wechat.render import translator

log = logging.getLogger(__name__)
STALE_AFTER = timedelta(minutes=10)  # no batch takes this long: a silent running job has lost its worker
CRASHED = ("The worker running this import stopped unexpectedly. Rows imported before that are kept; "
           "upload the file again to finish (rows already imported are recognised).")
CLI_CRASHED = ("The command-line import stopped unexpectedly (it was interrupted or killed). Rows imported before "
               "that are kept; run the import again to finish (rows already imported are recognised).")
UNEXPECTED = "The import stopped because of an unexpected error. It has been logged; please try again."


class ImportStopped(DomainError):
    """The worker was asked to stop (or lost the job) between two batches."""

    message = ("The worker was stopped during this import. Rows imported before that are kept; upload the "
               "file again to finish (rows already imported are recognised).")


@dataclass(frozen=True)
class Upload:
    """A file from the upload form: its name as the dealer sent it and its content."""

    filename: str
    stream: IO[bytes]


def enqueue_import(staff: StaffUser, *, dealer_id: int | None, upload: Upload | None,
                   header_map: Upload | None = None, language: str = "zh", ip: str = "",
                   kind: ImportKind = ImportKind.CUSTOMERS) -> ImportJob:
    """Store an upload and queue its import (customers or repair orders) for `dealer_id`; Invalid/Forbidden
    change nothing."""
    scope = Scope.of(staff)
    scope.require(Perm.IMPORTS_START)
    if not scope.all_dealers:
        dealer_id = scope.dealer_id
    if dealer_id is None:
        raise Invalid("Choose the dealer whose customers these are.", field="dealer_id")
    if upload is None:
        raise storage.UploadRefused("Choose a file to import.", field="file")
    filename = storage.check_name(upload.filename)
    with db.transaction() as s:
        try:
            dealer = scope.get(s, Dealer, dealer_id)
        except NotFound as exc:
            raise Invalid("Choose the dealer whose customers these are.", field="dealer_id") from exc
        if not scope.dealer_ok(dealer.id):
            raise Forbidden()
        job = ImportJob(account_id=dealer.account_id, dealer_id=dealer.id, kind=kind,
                        filename=filename, status=ImportStatus.QUEUED, started_by=staff.id, started_at=utcnow(),
                        language=language if language in ("zh", "en") else "zh")
        s.add(job)
        s.flush()
        storage.remove_job_files(job.id)  # a new id owns no files; anything there is left from a reset database
        try:
            size = storage.save_upload(upload.stream, storage.source_path(job.id, filename),
                                       suffix=storage.suffix_of(filename))
            if header_map is not None and header_map.filename:
                _save_header_map(job.id, header_map, kind)
        except BaseException:
            storage.remove_job_files(job.id)
            raise
        audit.record(s, staff=staff, action="import.start", target_type="import_job", target_id=job.id,
                     detail={"file": filename, "bytes": size, "dealer": dealer.code, "kind": kind.value,
                             "header_map": header_map is not None and bool(header_map.filename)},
                     ip=ip, dealer_id=dealer.id)
    return job


def _save_header_map(job_id: int, upload: Upload, kind: ImportKind) -> None:
    """Store an uploaded header map after checking it parses and names only known fields."""
    data = storage.read_header_map(upload.stream)
    path = storage.header_map_path(job_id)
    path.write_bytes(data)
    try:
        (map_repair_headers if kind == ImportKind.REPAIR_ORDERS else map_headers)([], load_header_map(path))
    except Invalid as exc:
        raise storage.UploadRefused(exc.message, field="header_map", **exc.params) from exc


def claim_next(worker: str, now: datetime | None = None) -> ImportJob | None:
    """Mark the oldest queued job `running` for `worker` and commit; None when nothing is queued."""
    now = now or utcnow()
    oldest = (sa.select(ImportJob.id).where(ImportJob.status == ImportStatus.QUEUED)
              .order_by(ImportJob.id).limit(1))
    if db.is_postgres():
        locked = oldest.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
        stmt = sa.update(ImportJob).where(ImportJob.id == locked.c.id)
    else:  # SQLite writers are serialised; the status guard keeps a job from being claimed twice
        stmt = sa.update(ImportJob).where(ImportJob.id.in_(oldest.scalar_subquery()),
                                          ImportJob.status == ImportStatus.QUEUED)
    stmt = (stmt.values(status=ImportStatus.RUNNING, claimed_by=worker[:64], started_at=now, heartbeat_at=now,
                        processed=0)
            .returning(ImportJob.id).execution_options(synchronize_session=False))
    with db.transaction() as s:
        job_id = s.execute(stmt).scalar()
        return s.get(ImportJob, job_id, populate_existing=True) if job_id is not None else None


def run_job(job_id: int, *, should_stop: Callable[[], bool] | None = None) -> ImportJob:
    """Run a claimed job to the end; a failure is recorded on the job (in its language), never raised."""
    job = db.session.get_one(ImportJob, job_id)
    dealer = db.session.get_one(Dealer, job.dealer_id)
    filename, language, kind = job.filename, job.language, job.kind
    db.session.remove()
    source = storage.source_path(job_id, filename)
    try:
        header_path = storage.header_map_path(job_id)
        header_map = load_header_map(header_path) if header_path.exists() else None
        with open_table(source) as table:  # an unreadable file fails here, before any row is written
            estimate = table.size_hint
        _update(job_id, total=estimate)
        import_into_job(source, job_id=job_id, dealer=dealer, filename=filename,
                        report_path=storage.report_path(job_id), header_map=header_map, language=language,
                        progress=_progress(job_id, should_stop), kind=kind)
    except DomainError as exc:
        _record_failure(job_id, translator(language)(exc.message, **exc.params))
    except Exception:
        log.exception("import job %s failed", job_id)
        _record_failure(job_id, translator(language)(UNEXPECTED))
    db.session.remove()
    return db.session.get_one(ImportJob, job_id)


def run_next_import(worker: str, should_stop: Callable[[], bool] | None = None) -> bool:
    """Claim and run at most one queued import (the worker calls this after each outbox round)."""
    if should_stop is not None and should_stop():
        return False
    job = claim_next(worker)
    if job is None:
        return False
    log.info("worker %s: import job %s (%s) started", worker, job.id, job.filename)
    done = run_job(job.id, should_stop=should_stop)
    log.info("worker %s: import job %s %s", worker, done.id, done.status)
    return True


def reap_stale_imports(now: datetime | None = None) -> int:
    """Mark running jobs whose worker or CLI process went silent as failed (never restarted); return how many."""
    now = now or utcnow()
    with db.transaction() as s:
        stale = s.execute(sa.select(ImportJob.id, ImportJob.language, ImportJob.claimed_by)
                          .where(ImportJob.status == ImportStatus.RUNNING, ImportJob.claimed_by != "",
                                 ImportJob.heartbeat_at < now - STALE_AFTER)).all()
    for row in stale:
        log.error("import job %s was left running by %s: marked failed, not restarted", row.id, row.claimed_by)
        reason = CLI_CRASHED if row.claimed_by.startswith("cli:") else CRASHED
        _record_failure(row.id, translator(row.language)(reason), only_running=True)
    return len(stale)


def _progress(job_id: int, should_stop: Callable[[], bool] | None) -> Callable[[int], None]:
    """After each batch: the processed count and a heartbeat; stop between batches when asked to."""
    processed = 0

    def tick(rows: int) -> None:
        nonlocal processed
        processed += rows
        if not _update(job_id, processed=processed, heartbeat_at=utcnow()):
            raise ImportStopped()  # the reaper gave up on this job: do not write behind its back
        if should_stop is not None and should_stop():
            raise ImportStopped()

    return tick


def _update(job_id: int, **values: object) -> bool:
    """Set columns of a running job; False when it is no longer running."""
    with db.transaction() as s:
        result = s.execute(sa.update(ImportJob)
                           .where(ImportJob.id == job_id, ImportJob.status == ImportStatus.RUNNING)
                           .values(**values).execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _record_failure(job_id: int, reason: str, *, only_running: bool = False) -> None:
    """Mark a job failed with a reason people can read."""
    stmt = sa.update(ImportJob).where(ImportJob.id == job_id)
    if only_running:
        stmt = stmt.where(ImportJob.status == ImportStatus.RUNNING)
    with db.transaction() as s:
        s.execute(stmt.values(status=ImportStatus.FAILED, error=reason[:2000], finished_at=utcnow())
                  .execution_options(synchronize_session=False))


def report_for_download(staff: StaffUser, job_id: int, ip: str = "") -> tuple[Path, str]:
    """The rejected-rows report of a job in the staff member's scope, audited; NotFound otherwise."""
    scope = Scope.of(staff)
    with db.transaction() as s:
        job = scope.get(s, ImportJob, job_id)
        path = storage.report_path(job.id)
        if not job.report_path or not storage.inside_root(path):
            raise NotFound()
        audit.record(s, staff=staff, action="import.report_download", target_type="import_job",
                     target_id=job.id, detail={"file": job.filename, "rejected": job.rejected}, ip=ip,
                     dealer_id=job.dealer_id)
        stem = Path(job.filename).stem or "import"
    return path, f"{stem}.rejected.csv"

