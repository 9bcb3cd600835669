"""The answer to the post-visit satisfaction question: a bare 1-5 after a completed, unrated visit."""

from __future__ import annotations

from scrm.wechat.router import Router

router = Router("satisfaction")
