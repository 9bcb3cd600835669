"""cgi-bin/message/mass/sendall (by tag) and mass/send (by openid list), WECHAT.md 4.4."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from scrm.sandbox import rules, state
from scrm.sandbox.api_common import authed, bp, json_body, settings
from scrm.sandbox.entities import AppState, Follower, MassJob
from scrm.sandbox.events import mass_helper_openid, push_event_later


def _content(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    msgtype = body.get("msgtype")
    if msgtype not in rules.MASS_MSGTYPES:
        raise rules.ApiError(40008)
    obj = body.get(msgtype)
    if not isinstance(obj, dict):
        raise rules.ApiError(47001)
    if msgtype == "text":
        if not isinstance(obj.get("content"), str) or not obj["content"]:
            raise rules.ApiError(44004)
    elif msgtype == "wxcard":
        if not obj.get("card_id"):
            raise rules.ApiError(47001)
    elif not obj.get("media_id"):
        raise rules.ApiError(40007)
    return msgtype, obj


def _claim_clientmsgid(st: AppState, body: dict[str, Any]) -> None:
    cid = body.get("clientmsgid")
    if cid in (None, ""):
        return
    if not isinstance(cid, str) or len(cid) > rules.MASS_CLIENTMSGID_MAX:
        raise rules.ApiError(45067)
    at = state.now()
    seen = st.mass_clientmsgids.get(cid)
    if seen is not None and at - seen < rules.MASS_CLIENTMSGID_SECONDS:
        raise rules.ApiError(45065)
    st.mass_clientmsgids[cid] = at


def _run_job(st: AppState, users: list[Follower], msgtype: str, obj: dict[str, Any]) -> MassJob:
    """Deliver to each follower who has received fewer than 4 mass messages this month, then report."""
    job = MassJob(msg_id=state.next_msgid(), total=len(users))
    month = state.month_key()
    for f in users:
        if f.mass_received.get(month, 0) >= rules.MASS_PER_USER_PER_MONTH:
            continue   # filtered out: this user's monthly allowance is used up
        job.filtered += 1
        f.mass_received[month] = f.mass_received.get(month, 0) + 1
        state.record(st, f.openid, "mass", msgtype, obj, msgid=job.msg_id)
        job.sent += 1
        job.recipients.append(f.openid)
    st.mass_jobs[job.msg_id] = job
    acc = settings().account_by_app_id(st.app_id)
    assert acc is not None
    push_event_later(settings(), acc, st, mass_helper_openid(st.app_id), {
        "Event": "MASSSENDJOBFINISH", "MsgID": job.msg_id,
        "Status": "send success" if job.errors == 0 else "send fail",
        "TotalCount": job.total, "FilterCount": job.filtered, "SentCount": job.sent, "ErrorCount": job.errors,
        "CopyrightCheckResult": {"Count": 0, "ResultList": "", "CheckState": 1},
        "ArticleUrlResult": {"Count": 0, "ResultList": ""}})
    return job


def _answer(job: MassJob, msgtype: str) -> Response:
    body: dict[str, Any] = {"errcode": 0, "errmsg": "send job submission success", "msg_id": job.msg_id}
    if msgtype == "mpnews":
        body["msg_data_id"] = job.msg_id % 10**10
    return jsonify(body)


@bp.post("/cgi-bin/message/mass/sendall")
def mass_sendall() -> Response:
    """Send to everyone carrying a tag (or to all followers)."""
    st = authed("mass")
    body = json_body()
    flt = body.get("filter")
    if not isinstance(flt, dict):
        raise rules.ApiError(47001)
    msgtype, obj = _content(body)
    with state.LOCK:
        to_all = flt.get("is_to_all") is True
        tag_id = flt.get("tag_id")
        if not to_all and (isinstance(tag_id, bool) or not isinstance(tag_id, int) or tag_id not in st.tags):
            raise rules.ApiError(45159)
        _claim_clientmsgid(st, body)
        users = [f for f in st.followers.values() if f.subscribed and (to_all or tag_id in f.tags)]
        job = _run_job(st, users, msgtype, obj)
    return _answer(job, msgtype)


@bp.post("/cgi-bin/message/mass/send")
def mass_send() -> Response:
    """Send to a list of 2 to 10,000 openids (40130 otherwise)."""
    st = authed("mass")
    body = json_body()
    openids = body.get("touser")
    if not isinstance(openids, list) or not rules.MASS_OPENID_MIN <= len(set(map(str, openids))) \
            <= rules.MASS_OPENID_MAX:
        raise rules.ApiError(40130)
    msgtype, obj = _content(body)
    with state.LOCK:
        if any(not isinstance(o, str) or o not in st.followers for o in openids):
            raise rules.ApiError(40003)
        _claim_clientmsgid(st, body)
        users = [st.followers[o] for o in dict.fromkeys(openids) if st.followers[o].subscribed]
        job = _run_job(st, users, msgtype, obj)
    return _answer(job, msgtype)


@bp.post("/cgi-bin/message/mass/get")
def mass_get() -> Response:
    """The status of a mass job."""
    st = authed("mass")
    msg_id = json_body().get("msg_id")
    with state.LOCK:
        job = st.mass_jobs.get(msg_id) if isinstance(msg_id, int) else None
    if job is None:
        raise rules.ApiError(40007)
    return jsonify(msg_id=job.msg_id, msg_status="SEND_SUCCESS")
