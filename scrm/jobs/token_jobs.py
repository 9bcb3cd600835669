"""Keep every account's shared access token fresh, so no request waits for a refresh."""

from __future__ import annotations

import logging

from scrm import runtime
from scrm.wechat.errors import WeChatError
from scrm.wechat.token import store_for

log = logging.getLogger(__name__)
AHEAD_SECONDS = 600


def refresh_tokens() -> dict[str, bool]:
    """Refresh each account's token that expires within 10 minutes; slug -> refreshed."""
    done: dict[str, bool] = {}
    for slug, account in runtime.get().settings.accounts.items():
        try:
            done[slug] = store_for(account).refresh_if_expiring(AHEAD_SECONDS)
        except WeChatError as exc:
            # One account's trouble (network, whitelist) must not stop the others' refresh.
            log.error("token refresh for %s failed: %s", slug, exc)
            done[slug] = False
    return done
