"""Safe-mode message encryption (WECHAT.md §1.3): AES-256-CBC, PKCS#7 with K=32, appid trailer.

Decryption is strict (base64 alphabet, block size, padding bytes, length field, app id) because the
input is attacker-controlled until proven otherwise; every failure is one `CryptoError`. The output
is interoperable with wechatpy's `WeChatCrypto` (tested both ways).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from scrm.wechat import signature
from scrm.wechat.replies import cdata

BLOCK = 32
_MAX_ENCRYPTED = 512 * 1024


class CryptoError(Exception):
    """The ciphertext is malformed, or was not encrypted for this app id."""


class WrongAppId(CryptoError):
    """A valid ciphertext, but for another official account."""


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key behind a 43-character EncodingAESKey."""
    key = base64.b64decode(encoding_aes_key + "=")
    if len(key) != 32:
        raise ValueError("EncodingAESKey must decode to 32 bytes")
    return key


class MessageCrypto:
    """Encrypt and decrypt pushes and replies of one official account."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str, previous_key: str = "") -> None:
        self.token = token
        self.app_id = app_id
        self._key = aes_key(encoding_aes_key)
        # After a key change in the WeChat console, pushes already under way still use the old key
        # (WECHAT.md §1.3): decryption tries it second; replies always use the current key.
        self._old_key = aes_key(previous_key) if previous_key else None
        self._app_id_bytes = app_id.encode("ascii")
        # WeChat's IV is the key's first 16 bytes, so a key's Cipher never changes: built once, it hands
        # out a fresh encryption or decryption context per message (building it cost a sixth of the crypto).
        self._ciphers = {k: Cipher(algorithms.AES(k), modes.CBC(k[:16])) for k in (self._key, self._old_key) if k}

    def _cipher(self, key: bytes | None = None) -> Cipher[modes.CBC]:
        return self._ciphers[key or self._key]

    def encrypt(self, text: str, random_prefix: bytes | None = None) -> str:
        """Base64 ciphertext of `text` (random 16 bytes, length, text, app id, padding)."""
        prefix = os.urandom(16) if random_prefix is None else random_prefix
        if len(prefix) != 16:
            raise ValueError("random prefix must be 16 bytes")
        body = text.encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + self._app_id_bytes
        pad = BLOCK - len(plain) % BLOCK
        plain += bytes([pad]) * pad
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(plain) + enc.finalize()).decode("ascii")

    def decrypt(self, encrypted: str) -> str:
        """The XML inside `encrypted` (current key, then the previous one); CryptoError if it is wrong."""
        try:
            return self._decrypt(encrypted, self._key)
        except CryptoError:
            if self._old_key is None:
                raise
            return self._decrypt(encrypted, self._old_key)

    def _decrypt(self, encrypted: str, key: bytes) -> str:
        if not encrypted or len(encrypted) > _MAX_ENCRYPTED:
            raise CryptoError("empty or oversized ciphertext")
        try:
            raw = base64.b64decode(encrypted.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptoError("invalid base64") from exc
        if len(raw) < BLOCK or len(raw) % 16:
            raise CryptoError("ciphertext is not whole AES blocks")
        dec = self._cipher(key).decryptor()
        plain = dec.update(raw) + dec.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad padding")
        content = plain[16:-pad]
        if len(content) < 4:
            raise CryptoError("truncated plaintext")
        (length,) = struct.unpack(">I", content[:4])
        if length > len(content) - 4:
            raise CryptoError("length field exceeds the plaintext")
        from_id = content[4 + length:]
        if not hmac.compare_digest(from_id, self._app_id_bytes):
            raise WrongAppId("encrypted for another app id")
        try:
            return content[4:4 + length].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CryptoError("plaintext is not UTF-8") from exc

    def msg_signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        """msg_signature over token, timestamp, nonce and the ciphertext."""
        return signature.sign(self.token, timestamp, nonce, encrypted)

    def verify_and_decrypt(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> str:
        """Check msg_signature (constant-time), then decrypt; False signature raises SignatureMismatch."""
        if not signature.verify(msg_signature, self.token, timestamp, nonce, encrypted):
            raise SignatureMismatch("msg_signature does not match")
        return self.decrypt(encrypted)

    def encrypt_reply(self, xml: str, nonce: str, timestamp: str) -> str:
        """The encrypted reply envelope for a passive reply `xml`."""
        encrypted = self.encrypt(xml)
        sig = self.msg_signature(timestamp, nonce, encrypted)
        return (f"<xml><Encrypt>{cdata(encrypted)}</Encrypt><MsgSignature>{cdata(sig)}</MsgSignature>"
                f"<TimeStamp>{int(timestamp)}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>")


class SignatureMismatch(Exception):
    """msg_signature did not verify: the request is not from WeChat."""
