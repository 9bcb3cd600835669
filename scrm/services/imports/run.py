"""Run one customer-file import: an ImportJob row, validation, batched upserts, the rejected-rows report.

Each batch of rows is its own transaction, so a huge file never holds one long transaction and an
interrupted import can simply be run again (the upsert is idempotent).
"""

from __future__ import annotations

import logging
import os
import socket
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scrm import db
from scrm.db import utcnow
from scrm.heap import frozen_heap
from scrm.models import Account, Dealer, ImportJob, ImportKind, ImportStatus
from scrm.readahead import read_ahead
from scrm.services.errors import DomainError, Invalid, NotFound
from scrm.services.imports import bulk, parallel
from scrm.services.imports.chunks import chunks_of
from scrm.services.imports.customers import ParsedRow, Problem, parse_row
from scrm.services.imports.readers import Cell, Table, UnreadableFile, open_table
from scrm.services.imports.repair_rows import check_repair_columns, map_repair_headers, parse_repair_row
from scrm.services.imports.repairs import apply_repairs
from scrm.services.imports.report import RejectReport
from scrm.services.imports.upsert import REJECTED, Batch, Outcome, apply_batch
from scrm.services.normalize import map_headers

logger = logging.getLogger(__name__)
BATCH_SIZE = 2000
# How each kind of file is read: its header map, its row rule and its batch writer.
Apply = Callable[[Session, Batch, list[ParsedRow]], list[Outcome]]
Parse = Callable[[int, dict[str, Cell], dict[str, str]], ParsedRow]
_KINDS: dict[ImportKind, tuple[Callable[..., dict[int, str]], Parse, Apply, str]] = {
    ImportKind.CUSTOMERS: (map_headers, parse_row, apply_batch,
                           "No column of this file has a header we know (such as 姓名, 手机, 车牌, VIN)."),
    ImportKind.REPAIR_ORDERS: (map_repair_headers, parse_repair_row, apply_repairs,
                               "No column of this file has a repair-order header we know (such as 工单号, 结算日期, "
                               "VIN, 车牌)."),
}


class ImportReaped(DomainError):
    """The job of a running import was marked failed elsewhere (its heartbeat was taken for dead)."""

    message = ("This import was marked as stopped while it was still running. Rows imported before that are "
               "kept; import the file again to finish.")


@dataclass(frozen=True)
class ImportSummary:
    """The counts of a finished import and where its rejected rows went (None: none rejected)."""

    job_id: int
    total: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    report_path: Path | None


def find_dealer(dealer_code: str, account_slug: str | None = None) -> Dealer:
    """The dealer with `dealer_code` (in `account_slug` when given); NotFound or Invalid when ambiguous."""
    stmt = sa.select(Dealer).where(Dealer.code == dealer_code.strip())
    if account_slug:
        stmt = stmt.join(Account, Account.id == Dealer.account_id).where(Account.slug == account_slug)
    dealers = db.session.scalars(stmt).all()
    db.session.remove()
    if not dealers:
        raise NotFound("There is no dealer with the code %(code)s.", code=dealer_code)
    if len(dealers) > 1:
        raise Invalid("Several accounts have a dealer with the code %(code)s: name the account.", code=dealer_code)
    return dealers[0]


def load_header_map(path: Path) -> dict[str, str]:
    """Extra header synonyms from TOML: `[headers]` with `"客户手机" = "mobile"` (top-level pairs work too)."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UnreadableFile("The header map could not be read: %(error)s", error=str(exc)) from exc
    table = data.get("headers", data)
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise UnreadableFile("The header map must map column headers to field names, as text.")
    return {str(k): v for k, v in table.items()}


def import_customers(path: Path, *, dealer: Dealer, report_path: Path | None = None,
                     header_map: dict[str, str] | None = None, language: str = "zh",
                     started_by: int | None = None, progress: Callable[[int], None] | None = None,
                     batch_size: int = BATCH_SIZE) -> ImportSummary:
    """Import a customer file for `dealer`; raises DomainError when the file as a whole cannot be used."""
    return _import_here(ImportKind.CUSTOMERS, path, dealer=dealer, report_path=report_path, header_map=header_map,
                        language=language, started_by=started_by, progress=progress, batch_size=batch_size)


def import_repair_orders(path: Path, *, dealer: Dealer, report_path: Path | None = None,
                         header_map: dict[str, str] | None = None, language: str = "zh",
                         started_by: int | None = None, progress: Callable[[int], None] | None = None,
                         batch_size: int = BATCH_SIZE) -> ImportSummary:
    """Import a repair-order file for `dealer` (each order linked to an existing customer)."""
    return _import_here(ImportKind.REPAIR_ORDERS, path, dealer=dealer, report_path=report_path,
                        header_map=header_map, language=language, started_by=started_by, progress=progress,
                        batch_size=batch_size)


def _import_here(kind: ImportKind, path: Path, *, dealer: Dealer, report_path: Path | None,
                 header_map: dict[str, str] | None, language: str, started_by: int | None,
                 progress: Callable[[int], None] | None, batch_size: int) -> ImportSummary:
    """Run an import in this process (the CLI), heart-beating like a worker so a killed run gets reaped."""
    job_id = _start_job(dealer, path.name, started_by, kind)
    processed = 0

    def beat(rows: int) -> None:
        nonlocal processed
        processed += rows
        with db.transaction() as s:
            db.commit_without_flush_wait(s)  # a lost heartbeat only makes the job look older
            alive = s.execute(sa.update(ImportJob)
                              .where(ImportJob.id == job_id, ImportJob.status == ImportStatus.RUNNING)
                              .values(processed=processed, heartbeat_at=utcnow())
                              .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
        if not alive:
            raise ImportReaped()
        if progress is not None:
            progress(rows)

    return import_into_job(path, job_id=job_id, dealer=dealer, filename=path.name, report_path=report_path,
                           header_map=header_map, language=language, progress=beat, batch_size=batch_size,
                           kind=kind)


def import_into_job(path: Path, *, job_id: int, dealer: Dealer, filename: str, report_path: Path | None = None,
                    header_map: dict[str, str] | None = None, language: str = "zh",
                    progress: Callable[[int], None] | None = None,
                    batch_size: int = BATCH_SIZE, kind: ImportKind = ImportKind.CUSTOMERS) -> ImportSummary:
    """Run the import of `path` (uploaded as `filename`) for an existing running ImportJob row."""
    try:
        with frozen_heap(), open_table(path) as table:
            counts, report = _import_table(table, path, filename, dealer, job_id, report_path, header_map,
                                           language, progress, batch_size, kind)
    except BaseException as exc:
        _fail_job(job_id, exc)
        raise
    written = report.path if report.count else None
    _finish_job(job_id, counts, written)
    return ImportSummary(job_id=job_id, report_path=written, **counts)


def _import_table(table: Table, path: Path, filename: str, dealer: Dealer, job_id: int, report_path: Path | None,
                  header_map: dict[str, str] | None, language: str, progress: Callable[[int], None] | None,
                  batch_size: int, kind: ImportKind) -> tuple[dict[str, int], RejectReport]:
    """Map the headers, then validate and write the rows batch by batch."""
    mapper, parse, apply, unknown = _KINDS[kind]
    try:
        by_index = mapper(table.raw_headers, header_map)
        if kind == ImportKind.REPAIR_ORDERS and by_index:
            check_repair_columns(by_index)
    except Invalid as exc:
        failure = UnreadableFile(exc.message)
        failure.params = dict(exc.params)
        raise failure from exc
    if not by_index:
        raise UnreadableFile(unknown)
    columns = {table.headers[i]: fld for i, fld in by_index.items()}
    report = RejectReport(report_path or path.with_name(f"{path.stem}.rejected.csv"), table.headers, language,
                          {fld: header for header, fld in columns.items()})
    counts = dict.fromkeys(("total", "created", "updated", "unchanged", "rejected"), 0)
    batch = Batch(dealer.account_id, dealer.id, job_id, filename, utcnow())
    if table.size_hint >= parallel.MIN_ROWS:  # a big file: validated in a second process
        chunks = parallel.parsed_chunks(path, parse, columns, batch_size)
    else:
        chunks = chunks_of((parse(line, cells, columns) for line, cells in table), batch_size)
    ahead = read_ahead(chunks, name="import-reader")  # rows are validated while the last chunk is written
    stats = bulk.PlannerStats(first=batch_size)
    try:
        for rows in ahead:
            for row, outcome in zip(rows, _write(batch, rows, apply), strict=True):
                counts["total"] += 1
                counts[outcome.status] += 1
                if outcome.status == REJECTED:
                    report.add(row.line, row.cells, outcome.problems)
            stats.created(counts["created"])
            if progress is not None:
                progress(len(rows))
    finally:
        ahead.close()  # at once, also on an error: the reader thread stops before the file is closed
        report.close()
    return counts, report


def _write(batch: Batch, rows: list[ParsedRow], apply: Apply = apply_batch) -> list[Outcome]:
    """One transaction per batch; a unique-key race with another writer retries row by row."""
    try:
        with db.transaction() as s:
            # a crash may lose the last batches' commits: the job is reaped and a re-run (idempotent) redoes them
            db.commit_without_flush_wait(s)
            return apply(s, batch, rows)
    except IntegrityError:
        logger.warning("import job %s: batch conflicted with concurrent writes; retrying row by row", batch.job_id)
    outcomes = []
    with db.transaction() as s:
        for row in rows:
            try:
                with s.begin_nested():
                    outcomes.extend(apply(s, batch, [row]))
            except IntegrityError:
                outcomes.append(Outcome(REJECTED, [Problem("", "This row clashed with a record written at the "
                                                           "same time; import the file again.")]))
    return outcomes


def _start_job(dealer: Dealer, filename: str, started_by: int | None, kind: ImportKind) -> int:
    now = utcnow()
    with db.transaction() as s:
        job = ImportJob(account_id=dealer.account_id, dealer_id=dealer.id, kind=kind,
                        filename=filename[:255], status=ImportStatus.RUNNING, started_by=started_by,
                        started_at=now, heartbeat_at=now, claimed_by=f"cli:{socket.gethostname()}:{os.getpid()}"[:64])
        s.add(job)
        s.flush()
        return job.id


def _finish_job(job_id: int, counts: dict[str, int], report: Path | None) -> None:
    with db.transaction() as s:
        job = s.get_one(ImportJob, job_id)
        for name, value in counts.items():
            setattr(job, name, value)
        job.report_path = str(report or "")
        job.status = ImportStatus.DONE
        job.finished_at = utcnow()


def _fail_job(job_id: int, exc: BaseException) -> None:
    """Record why the whole import stopped (rows already committed stay: a re-run is idempotent)."""
    db.session.rollback()
    error = exc.message % exc.params if isinstance(exc, DomainError) and exc.params else \
        getattr(exc, "message", None) or repr(exc)
    with db.transaction() as s:
        job = s.get_one(ImportJob, job_id)
        job.status = ImportStatus.FAILED
        job.error = str(error)[:2000]
        job.finished_at = utcnow()
