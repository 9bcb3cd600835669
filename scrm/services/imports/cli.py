"""`scrm import customers|repair-orders`: the import with a progress bar on stderr and a summary for the terminal.

Each run first reaps imports left `running` by a process that died (a killed CLI run heart-beats like a
worker, so its job is marked failed once its heartbeat is stale), then runs in this process.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from scrm import db, runtime
from scrm.models import Account, ImportKind
from scrm.services.accounts import sync_accounts
from scrm.services.imports.jobs import reap_stale_imports
from scrm.services.imports.readers import open_table
from scrm.services.imports.run import find_dealer, import_customers, import_repair_orders, load_header_map


def run_import_cli(path: Path, *, dealer_code: str, account_slug: str | None, report: Path | None,
                   header_map: Path | None, kind: ImportKind = ImportKind.CUSTOMERS) -> list[str]:
    """Import `path` for the dealer; return the summary lines (DomainError for a whole-file failure)."""
    sync_accounts()
    reaped = reap_stale_imports()
    dealer = find_dealer(dealer_code, account_slug)
    account = db.session.get_one(Account, dealer.account_id)
    settings = runtime.get().settings
    configured = settings.account(account.slug)
    # the report speaks the account's language; a config that does not name the account uses the default
    language = configured.language if configured is not None else settings.app.default_language
    db.session.remove()
    extra = load_header_map(header_map) if header_map else None
    with open_table(path) as table:  # fails fast, before a job row is written, on an unreadable file
        length = table.size_hint
    with click.progressbar(length=length, label=f"{path.name} → {dealer.code}", file=sys.stderr,
                           show_pos=True) as bar:
        run = import_repair_orders if kind == ImportKind.REPAIR_ORDERS else import_customers
        summary = run(path, dealer=dealer, report_path=report, header_map=extra, language=language,
                      progress=lambda n: bar.update(n))
    return [
        *([f"marked {reaped} stale import job(s) as failed"] if reaped else []),
        f"import job {summary.job_id}: {path.name} for dealer {dealer.code}",
        f"total:     {summary.total}",
        f"created:   {summary.created}",
        f"updated:   {summary.updated}",
        f"unchanged: {summary.unchanged}",
        f"rejected:  {summary.rejected}",
        f"report:    {summary.report_path if summary.report_path else 'none (no row was rejected)'}",
    ]
