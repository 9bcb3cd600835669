"""Events without a conversation: location reports, job reports, subscription-message consent, views."""

from __future__ import annotations

import logging

from scrm.security import mask_openid
from scrm.services import followers
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import Reply
from scrm.wechat.router import Context, Router, event

logger = logging.getLogger(__name__)
router = Router("events")


@router.on(event("location"))
def store_location(msg: Inbound, ctx: Context) -> None:
    """Keep the follower's reported position (WeChat expects no reply)."""
    if not followers.record_location(ctx.account_id, msg.openid, msg.latitude, msg.longitude):
        logger.info("unusable LOCATION from %s", mask_openid(msg.openid))


@router.on(event("templatesendjobfinish"))
def template_finished(msg: Inbound, ctx: Context) -> None:
    """Record whether a template message reached the follower."""
    from scrm.outbox.results import record_template_result

    if msg.msg_id:
        record_template_result(ctx.account_id, msg.msg_id, msg.status)


@router.on(event("masssendjobfinish"))
def mass_finished(msg: Inbound, ctx: Context) -> None:
    """Record the outcome and counts of a mass send."""
    from scrm.outbox.results import record_mass_result

    if msg.msg_id:
        record_mass_result(ctx.account_id, msg.msg_id, msg.status, dict(msg.counts))


@router.on(event("subscribe_msg_popup_event", "subscribe_msg_change_event", "subscribe_msg_sent_event"))
def subscription_consent(msg: Inbound, ctx: Context) -> None:
    """Log subscription-message consent (acted on by later features)."""
    for item in msg.subscribe_msgs:
        logger.info("%s from %s: template %s %s", msg.event, mask_openid(msg.openid), item.get("TemplateId", ""),
                    item.get("SubscribeStatusString") or item.get("ErrorStatus", ""))


@router.on(event("scancode_waitmsg"))
def scan_result(msg: Inbound, ctx: Context) -> Reply:
    """The phone waits for an answer after a menu scan: confirm what was scanned."""
    return ctx.render("events/scan_result.txt", result=msg.scan_result[:200])


@router.on(event("view", "view_miniprogram", "scancode_push", "pic_sysphoto", "pic_photo_or_album",
                 "pic_weixin", "location_select"))
def no_answer(msg: Inbound, ctx: Context) -> None:
    """Menu events that need no answer of their own (the photo or location follows as a message)."""
