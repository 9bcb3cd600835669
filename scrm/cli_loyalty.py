"""`scrm loyalty verify [--fix]` and `scrm loyalty expire`: the points ledger's upkeep from the command line."""

from __future__ import annotations

import sys

import click


def register(main: click.Group) -> None:
    """Add this module's commands to the `scrm` command."""

    @main.group("loyalty")
    def loyalty() -> None:
        """Points ledger upkeep."""

    @loyalty.command("verify")
    @click.option("--fix", is_flag=True, help="Reset each mismatched cached balance to the ledger's sum.")
    @click.pass_context
    def verify(ctx: click.Context, fix: bool) -> None:
        """Check every member's cached balance against the ledger; exit 1 on a mismatch left unfixed."""
        from scrm.cli import _app
        from scrm.services import ledger

        app = _app(ctx.find_root())
        with app.app_context():
            bad = ledger.verify(fix=fix)
        for member_id, cached, real in bad:
            click.echo(f"member {member_id}: balance {cached}, ledger {real}" + (" (fixed)" if fix else ""))
        click.echo(f"{len(bad)} mismatched balances" + (", fixed" if fix and bad else ""))
        if bad and not fix:
            sys.exit(1)

    @loyalty.command("expire")
    @click.pass_context
    def expire(ctx: click.Context) -> None:
        """Expire every points lot past its expiry now and print how many."""
        from scrm.cli import _app
        from scrm.services import ledger

        app = _app(ctx.find_root())
        with app.app_context():
            done = ledger.expire_due()
        click.echo(f"{done} lots expired")
