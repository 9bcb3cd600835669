"""Menu keys: a registry `menu_key -> handler`, reached by a CLICK (or scancode) on the key, by typing
one of the key's words, or by typing the name of a menu button that carries the key.

A click on a key without a handler falls through to a keyword reply whose keyword is the key, then
to the fallback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from handlers import common
from scrm import inline
from scrm.services import content_cache, dealer_cards
from scrm.textnorm import normalize
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Article, Reply
from scrm.wechat.router import Context, Handler, Router

logger = logging.getLogger(__name__)
router = Router("menu")
HANDLERS: dict[str, Handler] = {}
INSTANT: set[str] = set()                      # keys whose handler answers from memory (see Router.on)
_WORDS: dict[str, str] = {}                   # normalised typed word -> key
_CLICK_EVENTS = ("click", "scancode_push", "scancode_waitmsg")


def menu_key(key: str, *words: str, instant: bool = False) -> Callable[[Handler], Handler]:
    """Register the handler of a menu key and the words that reach it when typed (`instant`: see Router.on)."""
    def register(fn: Handler) -> Handler:
        if key in HANDLERS:
            raise ValueError(f"menu key {key} registered twice")
        HANDLERS[key] = fn
        if instant:
            INSTANT.add(key)
        for w in words:
            _WORDS[normalize(w)] = key
        return fn
    return register


def _button_names(buttons: list[dict[str, object]]) -> dict[str, str]:
    names: dict[str, str] = {}
    for top in buttons:
        subs = top.get("sub_button")
        for b in [top, *(subs if isinstance(subs, list) else [])]:
            if b.get("type") == "click" and b.get("key") in HANDLERS and b.get("name"):
                names[str(b["name"])] = str(b["key"])
    return names


def _load_names(account_id: int) -> dict[str, str]:
    from scrm.services.menu import current_menu

    return _button_names(current_menu(account_id))


# Reloaded when staff save a menu (its version token changes with the commit), not on a timer.
_names: content_cache.Versioned[int, dict[str, str]] = content_cache.Versioned(content_cache.MENU, _load_names)


def _buttons(ctx: Context) -> dict[str, str]:
    """Names of the current menu's click buttons whose key has a handler: name -> key."""
    try:
        return _names.get(ctx.account_id)
    except Exception:  # the menu service being unavailable must not stop the bot (and is not cached)
        logger.warning("current menu unavailable; using the configured one", exc_info=True)
        return _button_names([b.to_wechat() for b in ctx.account.menu])


def typed_button_names(ctx: Context) -> list[str]:
    """Menu button names a follower can type instead of tapping."""
    return sorted(_buttons(ctx))


def _key_for(msg: Inbound, ctx: Context) -> str | None:
    if msg.event in _CLICK_EVENTS:
        return msg.key if msg.key in HANDLERS else None
    if msg.msg_type != "text":
        return None
    word = normalize(msg.content)
    if word in _WORDS:
        return _WORDS[word]
    return next((k for name, k in _buttons(ctx).items() if normalize(name) == word), None)


def _is_menu_key(msg: Inbound, ctx: Context) -> bool:
    key = _key_for(msg, ctx)
    if key is None:
        return False
    ctx.extras["menu_key"] = key
    return True


@router.on(_is_menu_key, instant=True)
def run_menu_key(msg: Inbound, ctx: Context) -> Reply | None:
    """Run the handler registered for the key (off the request's thread unless the key is instant)."""
    key = ctx.extras["menu_key"]
    if key not in INSTANT:
        inline.check(f"menu key {key}")
    return HANDLERS[key](msg, ctx)


@menu_key("HELP", instant=True)
def menu_help(msg: Inbound, ctx: Context) -> Reply | None:
    """The help text."""
    return common.show_help(msg, ctx)


@menu_key("CONTACT_DEALER", "联系门店", "门店电话", "contact", "contact dealer", instant=True)
def contact_dealer(msg: Inbound, ctx: Context) -> Reply:
    """The follower's dealer card, or the list of dealers when they have none."""
    dealer = dealer_cards.dealer_card(ctx.dealer_id)
    if dealer is not None:
        return ctx.render("dealer/card.txt", dealer=dealer)
    return ctx.render("dealer/list.txt", dealers=dealer_cards.active_dealers(ctx.account_id))


@menu_key("MY_ACCOUNT", "我的账户", "我的", "account", "my account", instant=True)
def my_account(msg: Inbound, ctx: Context) -> Reply:
    """A card linking to the follower's H5 account page."""
    return ctx.news(Article(title=ctx.text("menu/account_title.txt"),
                            description=ctx.text("menu/account_description.txt"),
                            url=ctx.url(f"/h5/{ctx.account.slug}/")))
