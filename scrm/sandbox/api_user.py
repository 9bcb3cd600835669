"""cgi-bin/user/* and cgi-bin/tags/* (WECHAT.md 4.8)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from scrm.sandbox import rules, state
from scrm.sandbox.api_common import authed, bp, json_body, ok, openid_arg
from scrm.sandbox.entities import AppState, Follower


def user_info_of(f: Follower) -> dict[str, Any]:
    """user/info's answer for one user (only subscribe and openid for non-followers)."""
    if not f.subscribed:
        return {"subscribe": 0, "openid": f.openid}
    return {"subscribe": 1, "openid": f.openid, "language": "zh_CN", "subscribe_time": f.subscribe_time,
            "remark": f.remark, "groupid": 0, "tagid_list": list(f.tags), "subscribe_scene": f.subscribe_scene,
            "qr_scene": f.qr_scene, "qr_scene_str": f.qr_scene_str}


@bp.get("/cgi-bin/user/info")
def user_info() -> Response:
    """One user's profile as the platform still shares it (no nickname or avatar since 2021)."""
    st = authed("user_info")
    with state.LOCK:
        openid = openid_arg(st, request.args.get("openid"))
        return jsonify(user_info_of(st.followers[openid]))


@bp.post("/cgi-bin/user/info/batchget")
def user_info_batch() -> Response:
    """Up to 100 profiles at once (40032 beyond)."""
    st = authed("user_info")
    items = json_body().get("user_list")
    if not isinstance(items, list) or not items or len(items) > rules.USER_BATCH_MAX:
        raise rules.ApiError(40032)
    with state.LOCK:
        openids = [openid_arg(st, i.get("openid") if isinstance(i, dict) else None) for i in items]
        return jsonify(user_info_list=[user_info_of(st.followers[o]) for o in openids])


@bp.get("/cgi-bin/user/get")
def user_list() -> Response:
    """Followers in follow order, 10,000 per page; an empty next_openid ends the list."""
    st = authed("user_get")
    after = request.args.get("next_openid", "")
    with state.LOCK:
        subscribed = [f.openid for f in st.followers.values() if f.subscribed]
    start = 0
    if after:
        if after not in subscribed:
            raise rules.ApiError(40003)
        start = subscribed.index(after) + 1
    page = subscribed[start:start + rules.USER_PAGE_MAX]
    done = start + len(page) >= len(subscribed)
    body: dict[str, Any] = {"total": len(subscribed), "count": len(page),
                            "next_openid": "" if done or not page else page[-1]}
    if page:
        body["data"] = {"openid": page}
    return jsonify(body)


def _tag_name(st: AppState, name: Any, own_id: int | None = None) -> str:
    if not isinstance(name, str) or not name.strip():
        raise rules.ApiError(45157)
    if len(name) > rules.TAG_NAME_MAX:
        raise rules.ApiError(45158)
    if any(n == name and i != own_id for i, n in {**rules.TAG_RESERVED, **st.tags}.items()):
        raise rules.ApiError(45157)
    return name


def _tag_id(st: AppState, value: Any, *, modifiable: bool = True) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value in rules.TAG_RESERVED and modifiable:
        raise rules.ApiError(45058)
    if not isinstance(value, int) or value not in st.tags:
        raise rules.ApiError(45159)
    return value


def _tag_obj(body: dict[str, Any]) -> dict[str, Any]:
    tag = body.get("tag")
    if not isinstance(tag, dict):
        raise rules.ApiError(47001)
    return tag


@bp.post("/cgi-bin/tags/create")
def tags_create() -> Response:
    """A new tag (100 at most, names of 30 characters, no duplicates)."""
    st = authed("tags")
    tag = _tag_obj(json_body())
    with state.LOCK:
        name = _tag_name(st, tag.get("name"))
        if len(st.tags) >= rules.TAGS_MAX:
            raise rules.ApiError(45056)
        tag_id = st.next_tag_id
        st.next_tag_id += 1
        st.tags[tag_id] = name
    return jsonify(tag={"id": tag_id, "name": name})


@bp.get("/cgi-bin/tags/get")
def tags_get() -> Response:
    """Every tag with its follower count (the reserved 星标组 included)."""
    st = authed("tags")
    with state.LOCK:
        counts = {i: sum(1 for f in st.followers.values() if f.subscribed and i in f.tags)
                  for i in [2, *st.tags]}
        names = {2: rules.TAG_RESERVED[2], **st.tags}
    return jsonify(tags=[{"id": i, "name": names[i], "count": counts[i]} for i in names])


@bp.post("/cgi-bin/tags/update")
def tags_update() -> Response:
    """Rename a tag."""
    st = authed("tags")
    tag = _tag_obj(json_body())
    with state.LOCK:
        tag_id = _tag_id(st, tag.get("id"))
        st.tags[tag_id] = _tag_name(st, tag.get("name"), own_id=tag_id)
    return ok()


@bp.post("/cgi-bin/tags/delete")
def tags_delete() -> Response:
    """Delete a tag and untag its followers."""
    st = authed("tags")
    tag = _tag_obj(json_body())
    with state.LOCK:
        tag_id = _tag_id(st, tag.get("id"))
        del st.tags[tag_id]
        for f in st.followers.values():
            if tag_id in f.tags:
                f.tags.remove(tag_id)
    return ok()


def _batch(st: AppState, body: dict[str, Any]) -> tuple[int, list[Follower]]:
    openids = body.get("openid_list")
    if not isinstance(openids, list) or not openids or len(openids) > rules.TAG_BATCH_MAX:
        raise rules.ApiError(40032)
    tag_id = _tag_id(st, body.get("tagid"), modifiable=False)
    users = [st.followers[openid_arg(st, o)] for o in openids]
    if any(not f.subscribed for f in users):
        raise rules.ApiError(43004)
    return tag_id, users


@bp.post("/cgi-bin/tags/members/batchtagging")
def tags_batchtagging() -> Response:
    """Tag up to 50 followers (a follower holds 20 tags at most)."""
    st = authed("tags")
    body = json_body()
    with state.LOCK:
        tag_id, users = _batch(st, body)
        if any(tag_id not in f.tags and len(f.tags) >= rules.TAGS_PER_USER_MAX for f in users):
            raise rules.ApiError(45059)
        for f in users:
            if tag_id not in f.tags:
                f.tags.append(tag_id)
    return ok()


@bp.post("/cgi-bin/tags/members/batchuntagging")
def tags_batchuntagging() -> Response:
    """Untag up to 50 followers."""
    st = authed("tags")
    body = json_body()
    with state.LOCK:
        tag_id, users = _batch(st, body)
        for f in users:
            if tag_id in f.tags:
                f.tags.remove(tag_id)
    return ok()


@bp.post("/cgi-bin/tags/getidlist")
def tags_of_user() -> Response:
    """The tag ids of one follower."""
    st = authed("tags")
    body = json_body()
    with state.LOCK:
        openid = openid_arg(st, body.get("openid"))
        return jsonify(tagid_list=list(st.followers[openid].tags))


@bp.post("/cgi-bin/user/tag/get")
def tag_members() -> Response:
    """The followers carrying a tag, 10,000 per page."""
    st = authed("tags")
    body = json_body()
    with state.LOCK:
        tag_id = _tag_id(st, body.get("tagid"), modifiable=False)
        members = [f.openid for f in st.followers.values() if f.subscribed and tag_id in f.tags]
    after = body.get("next_openid") or ""
    start = members.index(after) + 1 if after in members else 0
    page = members[start:start + rules.USER_PAGE_MAX]
    more = start + len(page) < len(members)
    return jsonify(count=len(page), data={"openid": page}, next_openid=page[-1] if more and page else "")
