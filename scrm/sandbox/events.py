"""Event pushes the platform itself originates (TEMPLATESENDJOBFINISH, MASSSENDJOBFINISH), sent from a
background thread after a short delay, never inside the API request that caused them."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from scrm.config import AccountSettings, Settings
from scrm.sandbox import push, rules, state
from scrm.sandbox.entities import AppState

log = logging.getLogger(__name__)


def webhook_url(settings: Settings, account: AccountSettings, st: AppState) -> str:
    """Where this account's pushes go: a test override, else `<webhook_base_url>/wechat/<slug>`."""
    if st.webhook_url:
        return st.webhook_url
    base = settings.sandbox.webhook_base_url or settings.app.public_url
    return base.rstrip("/") + "/wechat/" + account.slug


def mass_helper_openid(app_id: str) -> str:
    """The openid of WeChat's "mass-send assistant", the sender of MASSSENDJOBFINISH."""
    return "o" + hashlib.sha1(f"masshelper:{app_id}".encode()).hexdigest()[:27]  # noqa: S324 (an id)


def push_event_later(settings: Settings, account: AccountSettings, st: AppState, from_user: str,
                     fields: dict[str, Any], delay: float = rules.TEMPLATE_FINISH_DELAY) -> None:
    """POST an event to the account's webhook from a background thread after `delay` seconds."""
    url = webhook_url(settings, account, st)
    xml = push.build_xml(rules.gh_id(account.app_id), from_user, "event", fields, create_time=int(state.now()))

    def send() -> None:
        """Push the event (retried like any push); a final failure is only logged."""
        result = push.deliver(account, url, xml, from_user)
        if result.error:
            log.warning("sandbox: %s push to %s failed: %s %s", fields.get("Event"), url, result.error, result.detail)

    state.later(delay, send)
