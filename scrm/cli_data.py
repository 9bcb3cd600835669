"""`scrm demo-data`: realistic demo customers at any size, into the database and/or a dealer CSV."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


def register(main: click.Group) -> None:
    """Add this module's commands to the `scrm` command."""

    @main.command("demo-data")
    @click.option("--customers", "customers", type=click.IntRange(min=1), required=True, help="How many.")
    @click.option("--account", "account", default=None, help="Official account slug (default: the first).")
    @click.option("--dealer", "dealer", default=None, help="Add them all to this dealer code.")
    @click.option("--seed", default=1, show_default=True, type=int, help="Same seed, same data.")
    @click.option("--duplicates", "duplicate_rate", default=0.02, show_default=True,
                  type=click.FloatRange(0, 0.5), help="Share of planted duplicate customers.")
    @click.option("--bound", "bind_rate", default=0.35, show_default=True, type=click.FloatRange(0, 1),
                  help="Share of customers who follow the account and are bound.")
    @click.option("--batch", "batch_size", default=5000, show_default=True, type=click.IntRange(100, 100_000))
    @click.option("--csv", "csv_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
                  help="Also write a dealer-system export CSV (Chinese headers) of the same customers.")
    @click.option("--csv-only", is_flag=True, help="Write only the CSV, nothing to the database.")
    @click.option("--dirty", "dirty_rate", default=0.05, show_default=True, type=click.FloatRange(0, 1),
                  help="Share of CSV rows spoilt (bad mobile, bad VIN check digit, impossible date, landline).")
    @click.option("--gbk", is_flag=True, help="Write the CSV in GBK, as older dealer systems do.")
    @click.pass_context
    def demo_data(ctx: click.Context, customers: int, account: str | None, dealer: str | None, seed: int,
                  duplicate_rate: float, bind_rate: float, batch_size: int, csv_path: Path | None, csv_only: bool,
                  dirty_rate: float, gbk: bool) -> None:
        """Generate dealers, customers, vehicles, service history, followers and planted duplicates."""
        from scrm.cli import _app
        from scrm.services.demo_run import Options, generate
        from scrm.services.errors import NotFound

        if csv_only and csv_path is None:
            raise click.UsageError("--csv-only needs --csv FILE")
        opts = Options(customers=customers, seed=seed, account=account, dealer=dealer,
                       duplicate_rate=duplicate_rate, bind_rate=bind_rate, batch_size=batch_size, csv=csv_path,
                       csv_only=csv_only, dirty_rate=dirty_rate, encoding="gbk" if gbk else "utf-8-sig")

        def progress(done: int, total: int) -> None:
            click.echo(f"{done}/{total} customers", err=True)

        app = _app(ctx.find_root())
        with app.app_context():
            try:
                summary = generate(opts, progress)
            except NotFound:
                click.echo("error: no such account or dealer", err=True)
                sys.exit(1)
        click.echo(json.dumps(summary, ensure_ascii=False))
