"""`scrm demo`: web, worker and scheduler in one process on SQLite, with the offline WeChat sandbox."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import requests

from scrm import ROOT
from scrm.config import TEMPLATE_KEYS, Settings, apply_env_overrides, settings_from_dict
from scrm.sandbox.entities import template_id_for

log = logging.getLogger(__name__)

DEMO_MENU: list[dict[str, Any]] = [
    {"name": "预约服务", "sub": [
        {"name": "预约保养", "type": "click", "key": "BOOK_SERVICE"},
        {"name": "预约试驾", "type": "click", "key": "BOOK_TEST_DRIVE"},
        {"name": "我的预约", "type": "click", "key": "MY_BOOKINGS"},
        {"name": "附近门店", "type": "click", "key": "NEARBY_DEALERS"},
    ]},
    {"name": "会员中心", "sub": [
        {"name": "每日签到", "type": "click", "key": "CHECKIN"},
        {"name": "我的积分", "type": "click", "key": "MY_POINTS"},
        {"name": "积分商城", "type": "view", "url": "{base}/h5/demo/rewards"},
        {"name": "车主活动", "type": "click", "key": "CLUB_EVENTS"},
        {"name": "邀请好友", "type": "click", "key": "REFERRAL"},
    ]},
    {"name": "车主服务", "sub": [
        {"name": "我的账户", "type": "click", "key": "MY_ACCOUNT"},
        {"name": "绑定车主", "type": "click", "key": "BIND_CUSTOMER"},
        {"name": "联系门店", "type": "click", "key": "CONTACT_DEALER"},
        {"name": "本月优惠", "type": "click", "key": "PROMOTIONS"},
        {"name": "帮助", "type": "click", "key": "HELP"},
    ]},
]


def _secret(instance: Path) -> str:
    path = instance / "demo-secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _sandbox_templates(app_id: str) -> dict[str, str]:
    """The ids of the sandbox's preloaded templates that the product sends (booking notices)."""
    return {name: template_id_for(app_id, name) for name in TEMPLATE_KEYS}


def _with_base(button: dict[str, Any], base: str) -> dict[str, Any]:
    """A menu button (and its sub-buttons) with `{base}` in view URLs replaced by the demo's address."""
    out = dict(button, url=button["url"].format(base=base)) if "url" in button else dict(button)
    if "sub" in out:
        out["sub"] = [_with_base(sub, base) for sub in out["sub"]]
    return out


def demo_settings(host: str, port: int, database_url: str) -> Settings:
    """Settings for the all-in-one demo: SQLite, in-process Redis, two sandbox accounts."""
    instance = ROOT / "instance"
    instance.mkdir(exist_ok=True)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 (comparison only)
    base = f"http://{shown_host}:{port}"
    menu = [_with_base(b, base) for b in DEMO_MENU]
    raw: dict[str, Any] = {
        "app": {"secret_key": _secret(instance), "public_url": base},
        "database": {"url": database_url},
        "redis": {"url": "memory://demo"},
        "outbox": {"poll_seconds": 0.5},
        # the demo asks for the rating a minute after a visit is completed, not two hours (production's default)
        "booking": {"rating_delay_minutes": 1},
        "sandbox": {"enabled": True, "webhook_base_url": base},
        "accounts": {
            "demo": {"name": "车主汇演示品牌", "app_id": "wxdemo0000000001", "app_secret": "demo-app-secret",
                     "token": "demotoken", "api_base_url": f"{base}/sandbox/wx", "menu": menu,
                     "templates": _sandbox_templates("wxdemo0000000001")},
            "demo-safe": {"name": "车主汇演示（安全模式）", "app_id": "wxdemo0000000002",
                          "app_secret": "demo-app-secret-2", "token": "demosafetoken",
                          "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
                          "api_base_url": f"{base}/sandbox/wx", "menu": menu,
                          "templates": _sandbox_templates("wxdemo0000000002")},
        },
    }
    apply_env_overrides(raw, {k: v for k, v in os.environ.items() if k != "SCRM_CONFIG"})
    return settings_from_dict(raw)


def _worker_loop(app: Any, stop: threading.Event, poll: float) -> None:
    from scrm.outbox.worker import drain

    while not stop.is_set():
        try:
            with app.app_context():
                drain(imports=False)  # imports have their own thread: a big file never delays messages
        except Exception:
            log.exception("demo worker loop failed; retrying")
        stop.wait(poll)


def _import_loop(app: Any, stop: threading.Event, poll: float) -> None:
    from scrm.services.imports.jobs import run_next_import

    while not stop.is_set():
        ran = False
        try:
            with app.app_context():
                ran = run_next_import("demo-imports", stop.is_set)
        except Exception:
            log.exception("demo import loop failed; retrying")
        if not ran:
            stop.wait(max(poll, 1.0))


def _sync_menus_when_up(app: Any, base: str) -> None:
    from scrm.services.accounts import account_id
    from scrm.services.menu import sync_menu

    for _ in range(100):
        try:
            if requests.get(f"{base}/healthz", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.1)
    with app.app_context():
        for slug in app.extensions["scrm.settings"].accounts:
            try:
                sync_menu(account_id(slug))
            except Exception:
                log.exception("could not push the demo menu of %s to the sandbox", slug)


def _followers_to_sandbox(settings: Settings) -> None:
    """Make the fake platform know the demo's seeded followers, so campaigns and journeys can reach them."""
    import sqlalchemy as sa

    from scrm import db
    from scrm.models import Account, Follower
    from scrm.sandbox import state

    with db.transaction() as s:
        rows = s.execute(sa.select(Account.slug, Follower.openid).join(Account, Account.id == Follower.account_id)
                         .where(Follower.subscribed.is_(True))).all()
    for slug, openid in rows:
        account = settings.account(slug)
        if account is not None:
            state.add_follower(account.app_id, openid, subscribed=True, interaction=None)


def run_demo(*, host: str, port: int, database_url: str, reset: bool = False) -> None:
    """Prepare the database, seed, start the worker and scheduler threads, and serve until Ctrl-C."""
    from werkzeug.serving import make_server

    from scrm import create_app
    from scrm.jobs.scheduler import start_background
    from scrm.logs import setup_logging
    from scrm.migrate import upgrade
    from scrm.services.demo_data import DEMO_PASSWORD, seed

    setup_logging()
    if reset and database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    settings = demo_settings(host, port, database_url)
    upgrade(settings.database.url)
    app = create_app(settings)
    with app.app_context():
        summary = seed()
        _followers_to_sandbox(settings)
        from scrm.jobs import analytics_jobs, journey_jobs

        journey_jobs.tick()   # the demo's journeys show their first enrolments at once (then every 15 minutes)
        analytics_jobs.nightly()   # scores, figures, rule tasks and lead scores at once (then nightly at 02:15)
    stop = threading.Event()
    threading.Thread(target=_worker_loop, args=(app, stop, settings.outbox.poll_seconds), daemon=True,
                     name="demo-worker").start()
    threading.Thread(target=_import_loop, args=(app, stop, settings.outbox.poll_seconds), daemon=True,
                     name="demo-imports").start()
    scheduler = start_background(app)
    base = settings.app.public_url
    threading.Thread(target=_sync_menus_when_up, args=(app, base), daemon=True, name="demo-menu").start()
    server = make_server(host, port, app, threaded=True)
    print(_banner(base, summary, DEMO_PASSWORD), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        scheduler.shutdown(wait=False)
        server.server_close()


def _banner(base: str, summary: dict[str, int], password: str) -> str:
    seeded = "demo data loaded" if summary.get("dealers") else "demo data already present"
    return (
        "\n车主汇 SCRM demo is running (" + seeded + ")\n"
        f"  Admin:            {base}/admin/   login: admin / {password}\n"
        f"                    (dealer roles: manager.sh001, staff.sh001 with the same password)\n"
        f"  Phone simulator:  {base}/sandbox/phone\n"
        f"  Webhook:          {base}/wechat/demo  (plaintext)   {base}/wechat/demo-safe  (safe mode)\n"
        "  Press Ctrl-C to stop.\n"
    )
