"""`scrm analytics score|nightly|aggregate|backtest`: the analytics runs from the command line."""

from __future__ import annotations

import json
import sys
import time
from datetime import date, datetime
from typing import Any

import click


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=name) from None


def _accounts(slug: str | None) -> list[tuple[int, str]]:
    """(id, slug) of one account or all; exits 1 on an unknown slug."""
    import sqlalchemy as sa

    from scrm import db
    from scrm.models import Account
    from scrm.services.accounts import sync_accounts

    sync_accounts()
    stmt = sa.select(Account.id, Account.slug).order_by(Account.id)
    if slug:
        stmt = stmt.where(Account.slug == slug)
    rows = [(int(i), str(s)) for i, s in db.session.execute(stmt)]
    db.session.remove()
    if not rows:
        click.echo(f"error: no account {slug!r}", err=True)
        sys.exit(1)
    return rows


def _today(given: str | None) -> date:
    from scrm import db
    from scrm.services.analytics_scores import local_tz

    return _day(given, "--today") or db.utcnow().astimezone(local_tz()).date()


def register(main: click.Group) -> None:
    """Add this module's commands to the `scrm` command."""

    @main.group("analytics")
    def analytics() -> None:
        """Customer scores, nightly runs, daily figures and the churn backtest."""

    @analytics.command("score")
    @click.option("--account", "slug", default=None, help="Account slug (default: every account).")
    @click.option("--today", default=None, help="Score as of this day (YYYY-MM-DD; default: today).")
    @click.pass_context
    def score(ctx: click.Context, slug: str | None, today: str | None) -> None:
        """Rewrite the value segments and churn risks; print rows and seconds per account."""
        from scrm import db
        from scrm.cli import _app
        from scrm.services.analytics_scores import score_all

        with _app(ctx.find_root()).app_context():
            day = _today(today)
            for account_id, name in _accounts(slug):
                t0 = time.perf_counter()
                with db.transaction() as s:
                    rows = score_all(s, account_id, day)
                click.echo(f"{name}: {rows} rows in {time.perf_counter() - t0:.2f}s")

    @analytics.command("nightly")
    @click.option("--account", "slug", default=None, help="Account slug (default: every account).")
    @click.pass_context
    def nightly(ctx: click.Context, slug: str | None) -> None:
        """Run every nightly analytics step; print each step's rows, seconds and error."""
        from scrm.cli import _app
        from scrm.services import analytics_nightly

        failed = False
        with _app(ctx.find_root()).app_context():
            for account_id, name in _accounts(slug):
                for r in analytics_nightly.run(account_id):
                    failed = failed or bool(r.error)
                    tail = f"  ERROR {r.error}" if r.error else ""
                    click.echo(f"{name} {r.step:<11} {r.rows:>9} rows {r.seconds:>8.2f}s{tail}")
        if failed:
            sys.exit(1)

    @analytics.command("aggregate")
    @click.option("--account", "slug", required=True, help="Account slug.")
    @click.option("--since", required=True, help="First day to rewrite (YYYY-MM-DD).")
    @click.pass_context
    def aggregate(ctx: click.Context, slug: str, since: str) -> None:
        """Rewrite the daily figures from a day until today."""
        from scrm import db
        from scrm.cli import _app
        from scrm.services import analytics_agg

        first = _day(since, "--since")
        assert first is not None
        with _app(ctx.find_root()).app_context():
            day = _today(None)
            if first > day:
                raise click.BadParameter("must not be after today", param_hint="--since")
            for account_id, name in _accounts(slug):
                t0 = time.perf_counter()
                with db.transaction() as s:
                    out: Any = analytics_agg.refresh(s, account_id, first, day)
                rows = sum(out.values()) if isinstance(out, dict) else out
                click.echo(f"{name}: {rows} rows in {time.perf_counter() - t0:.2f}s")

    @analytics.command("backtest")
    @click.option("--account", "slug", required=True, help="Account slug.")
    @click.option("--as-of", "as_of", required=True, help="Score as of this day (YYYY-MM-DD).")
    @click.option("--horizon-days", default=365, show_default=True, type=int, help="Outcome window after as-of.")
    @click.option("--k", "ks", multiple=True, type=int, default=(100, 1000), show_default=True,
                  help="Precision at the k highest scores (repeatable).")
    @click.option("--json", "as_json", is_flag=True, help="Also print the result as one JSON line.")
    @click.option("--today", default=None, hidden=True)
    @click.pass_context
    def backtest(ctx: click.Context, slug: str, as_of: str, horizon_days: int, ks: tuple[int, ...],
                 as_json: bool, today: str | None) -> None:
        """Precision of the churn score at the top k on history where the outcome is known."""
        from scrm import db
        from scrm.cli import _app
        from scrm.services import analytics_backtest
        from scrm.services.errors import Invalid

        day = _day(as_of, "--as-of")
        assert day is not None
        with _app(ctx.find_root()).app_context():
            now = _today(today)
            ((account_id, _),) = _accounts(slug)
            t0 = time.perf_counter()
            try:
                with db.transaction() as s:
                    result = analytics_backtest.run(s, account_id, day, horizon_days, list(ks), now)
            except Invalid as exc:
                click.echo(f"error: {exc.message % exc.params if exc.params else exc.message}", err=True)
                sys.exit(1)
        click.echo(f"as of {result.as_of}, horizon {result.horizon_days} days: {result.evaluated} customers "
                   f"evaluated, {result.churned} churned, base rate {result.base_rate:.1%}")
        click.echo(f"{'':<12}{'k':>8}{'churned':>9}{'precision':>11}{'lift':>7}")
        for r in result.rows:
            click.echo(f"{r.label:<12}{r.k:>8}{r.churned:>9}{r.precision:>11.1%}{r.lift:>7.2f}")
        click.echo(f"({time.perf_counter() - t0:.1f}s, at {datetime.now().isoformat(timespec='seconds')})", err=True)
        if as_json:
            click.echo(json.dumps(result.as_dict()))
