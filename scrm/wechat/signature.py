"""Request signatures (WECHAT.md §1.1, §1.3): sha1 of the sorted parts, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import time

TIMESTAMP_WINDOW_SECONDS = 300
_SHA1_HEX = re.compile(r"^[0-9a-fA-F]{40}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_MAX_NONCE = 64


def sign(*parts: str) -> str:
    """sha1 of the parts sorted and joined, as lowercase hex (signature and msg_signature)."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()  # noqa: S324 (WeChat's scheme)


def verify(signature: str, *parts: str) -> bool:
    """True when `signature` is the signature of `parts`; constant-time."""
    if not _SHA1_HEX.match(signature or ""):
        return False
    return hmac.compare_digest(sign(*parts), signature.lower())


def fresh(timestamp: str, now: float | None = None, window: int = TIMESTAMP_WINDOW_SECONDS) -> bool:
    """True when `timestamp` (unix seconds as text) is within ±window of now."""
    if not _TIMESTAMP.match(timestamp or ""):
        return False
    current = time.time() if now is None else now
    return abs(current - int(timestamp)) <= window


def check_request(token: str, signature: str, timestamp: str, nonce: str, now: float | None = None) -> bool:
    """The query-string check every push must pass: well-formed, fresh, and signed with our token."""
    if not nonce or len(nonce) > _MAX_NONCE or not fresh(timestamp, now):
        return False
    return verify(signature, token, timestamp, nonce)
