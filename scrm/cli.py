"""The `scrm` command: one code base, four roles, and the admin chores."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import click

from scrm.config import ConfigError, Settings, load_settings


def _settings(ctx: click.Context) -> Settings:
    try:
        return load_settings(ctx.obj.get("config"))
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)


def _app(ctx: click.Context) -> Any:
    from scrm import create_app

    return create_app(_settings(ctx))


@click.group()
@click.option("--config", "config", envvar="SCRM_CONFIG", default=None,
              help="TOML settings file (default: $SCRM_CONFIG or config.toml).")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """车主汇 SCRM: web, worker, scheduler, and the all-in-one demo."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    from scrm.logs import setup_logging

    setup_logging()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--database", default="sqlite:///instance/demo.db", show_default=True,
              help="Database URL for the demo.")
@click.option("--reset", is_flag=True, help="Start from an empty database.")
def demo(host: str, port: int, database: str, reset: bool) -> None:
    """Everything in one process: web, worker, scheduler, offline WeChat sandbox and demo data."""
    from scrm.demo import run_demo

    run_demo(host=host, port=port, database_url=database, reset=reset)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn worker processes.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64),
              help="Threads per worker (gthread).")
@click.option("--dev", is_flag=True, help="Use Flask's development server instead of gunicorn.")
@click.pass_context
def web(ctx: click.Context, host: str, port: int, workers: int, threads: int, dev: bool) -> None:
    """Serve the webhook, admin and H5 pages (gunicorn when available)."""
    from scrm.serve import serve_web

    settings = _settings(ctx)
    serve_web(settings, config_path=ctx.obj.get("config"), host=host, port=port, workers=workers, dev=dev,
              threads=threads)


@main.command()
@click.option("--once", is_flag=True, help="Send what is due, then exit.")
@click.option("--name", default="", help="Worker name shown on claimed rows (default host:pid).")
@click.pass_context
def worker(ctx: click.Context, once: bool, name: str) -> None:
    """Claim outbox rows and send them under the shared rate limit."""
    from scrm.outbox.worker import run_worker

    app = _app(ctx)
    with app.app_context():
        run_worker(once=once, name=name or None)


@main.command()
@click.pass_context
def scheduler(ctx: click.Context) -> None:
    """Run the periodic jobs (exactly one per deployment); it enqueues, never sends."""
    from scrm.jobs.scheduler import run_scheduler

    app = _app(ctx)
    run_scheduler(app)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5100, show_default=True, type=int)
@click.pass_context
def sandbox(ctx: click.Context, host: str, port: int) -> None:
    """Serve the offline WeChat (fake API and phone simulator) on its own."""
    from scrm.sandbox.server import run_standalone

    run_standalone(_settings(ctx), host=host, port=port)


@main.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Apply Alembic migrations."""
    from scrm.migrate import upgrade

    settings = _settings(ctx.find_root())
    upgrade(settings.database.url, revision)
    click.echo(f"database at {revision}")


@main.command("seed-demo")
@click.pass_context
def seed_demo(ctx: click.Context) -> None:
    """Load the demo dealers, staff, followers and replies (idempotent)."""
    from scrm.services.demo_data import seed

    app = _app(ctx)
    with app.app_context():
        summary = seed()
    click.echo(json.dumps(summary, ensure_ascii=False))


@main.group("user")
def user_group() -> None:
    """Staff accounts."""


@user_group.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(["brand_admin", "dealer_manager", "dealer_staff"]), required=True)
@click.option("--account", "account_slug", required=True, help="Official account slug.")
@click.option("--dealer", "dealer_code", default=None, help="Dealer code (not for brand admins).")
@click.option("--name", "display_name", default="", help="Display name.")
@click.password_option(help="Password (prompted when omitted).")
@click.pass_context
def user_create(ctx: click.Context, username: str, role: str, account_slug: str, dealer_code: str | None,
                display_name: str, password: str) -> None:
    """Create a staff user with an argon2 password hash."""
    from scrm.services.errors import DomainError
    from scrm.services.staff import create_staff_cli

    app = _app(ctx.find_root())
    with app.app_context():
        try:
            user_id = create_staff_cli(username=username, role=role, account_slug=account_slug,
                                       dealer_code=dealer_code, display_name=display_name, password=password)
        except DomainError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(1)
    click.echo(f"created staff user {username} (id {user_id})")


@main.group("menu")
def menu_group() -> None:
    """The official account's menu."""


@menu_group.command("sync")
@click.option("--account", "account_slug", required=True)
@click.pass_context
def menu_sync(ctx: click.Context, account_slug: str) -> None:
    """Validate the current menu and push it to WeChat."""
    from scrm.services.errors import DomainError
    from scrm.services.menu import sync_menu_cli

    app = _app(ctx.find_root())
    with app.app_context():
        try:
            buttons = sync_menu_cli(account_slug)
        except DomainError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(1)
    click.echo(json.dumps({"button": buttons}, ensure_ascii=False, indent=2))
    click.echo("menu synced")


@menu_group.command("show")
@click.option("--account", "account_slug", required=True)
@click.option("--remote", is_flag=True, help="Ask WeChat for the menu in force instead of ours.")
@click.pass_context
def menu_show(ctx: click.Context, account_slug: str, remote: bool) -> None:
    """Print the current menu as JSON."""
    from scrm.services.errors import DomainError
    from scrm.services.menu import show_menu_cli

    app = _app(ctx.find_root())
    with app.app_context():
        try:
            menu = show_menu_cli(account_slug, remote=remote)
        except DomainError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(1)
    click.echo(json.dumps(menu, ensure_ascii=False, indent=2))


@main.group("import")
def import_group() -> None:
    """Import files exported from the dealer system."""


def _import_options(fn: Any) -> Any:
    for option in reversed([
        click.argument("file", type=click.Path(path_type=Path)),
        click.option("--dealer", "dealer_code", required=True, help="Dealer code."),
        click.option("--account", "account_slug", default=None, help="Official account slug (when codes repeat)."),
        click.option("--report", "report", type=click.Path(path_type=Path), default=None,
                     help="Where rejected rows go (default: FILE.rejected.csv next to FILE)."),
        click.option("--header-map", "header_map", type=click.Path(path_type=Path), default=None,
                     help="TOML file with extra header synonyms ([headers] \"客户手机\" = \"mobile\")."),
    ]):
        fn = option(fn)
    return click.pass_context(fn)


def _run_import(ctx: click.Context, kind: str, file: Path, dealer_code: str, account_slug: str | None,
                report: Path | None, header_map: Path | None) -> None:
    from scrm.models import ImportKind
    from scrm.services.errors import DomainError
    from scrm.services.imports.cli import run_import_cli

    app = _app(ctx.find_root())
    with app.app_context():
        try:
            lines = run_import_cli(file, dealer_code=dealer_code, account_slug=account_slug, report=report,
                                   header_map=header_map, kind=ImportKind(kind))
        except DomainError as exc:
            click.echo(f"error: {exc.message % exc.params if exc.params else exc.message}", err=True)
            sys.exit(1)
    click.echo("\n".join(lines))


@import_group.command("customers")
@_import_options
def import_customers(ctx: click.Context, file: Path, dealer_code: str, account_slug: str | None,
                     report: Path | None, header_map: Path | None) -> None:
    """Import customers and vehicles from CSV (UTF-8 or GBK) or XLSX; re-running is safe."""
    _run_import(ctx, "customers", file, dealer_code, account_slug, report, header_map)


@import_group.command("repair-orders")
@_import_options
def import_repair_orders(ctx: click.Context, file: Path, dealer_code: str, account_slug: str | None,
                         report: Path | None, header_map: Path | None) -> None:
    """Import repair orders (工单) from CSV or XLSX, each linked to an existing customer; re-running is safe."""
    _run_import(ctx, "repair_orders", file, dealer_code, account_slug, report, header_map)


# Command groups of other areas live in their own modules, each with `register(main)`.
for _module in ("scrm.cli_quality", "scrm.cli_data"):
    importlib.import_module(_module).register(main)
importlib.import_module("scrm.cli_loyalty").register(main)
importlib.import_module("scrm.cli_analytics").register(main)


if __name__ == "__main__":  # pragma: no cover
    main()
