"""`scrm dedupe`: duplicate detection for one dealer or all of them, from the command line."""

from __future__ import annotations

import json
import sys

import click


def register(main: click.Group) -> None:
    """Add this module's commands to the `scrm` command."""

    @main.command("dedupe")
    @click.option("--dealer", "dealer_code", default=None, help="Dealer code to check.")
    @click.option("--all", "all_dealers", is_flag=True, help="Check every active dealer.")
    @click.option("--quiet", is_flag=True, help="Only the JSON summary, no progress lines.")
    @click.pass_context
    def dedupe(ctx: click.Context, dealer_code: str | None, all_dealers: bool, quiet: bool) -> None:
        """Find duplicate customer candidates (blocking in SQL, scoring in Python); one JSON line per dealer."""
        import sqlalchemy as sa

        from scrm import db
        from scrm.cli import _app
        from scrm.models import Dealer
        from scrm.services import duplicates

        if bool(dealer_code) == all_dealers:
            raise click.UsageError("give either --dealer CODE or --all")
        app = _app(ctx.find_root())
        with app.app_context():
            stmt = sa.select(Dealer.id, Dealer.code).order_by(Dealer.id)
            stmt = stmt.where(Dealer.code == dealer_code) if dealer_code else stmt.where(Dealer.active.is_(True))
            dealers = list(db.session.execute(stmt))
            db.session.remove()
            if not dealers:
                click.echo(f"error: no dealer with code {dealer_code}", err=True)
                sys.exit(1)
            for dealer_id, code in dealers:
                def progress(msg: str, code: str = code) -> None:
                    if not quiet:
                        click.echo(f"[{code}] {msg}", err=True)

                result = duplicates.detect(dealer_id, progress=progress)
                click.echo(json.dumps({"dealer": code, **result.summary()}, ensure_ascii=False))
