"""Safe-mode crypto against the official vectors (WECHAT.md §1.4) and wechatpy, plus every bad input."""

from __future__ import annotations

import base64
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.crypto import WeChatCrypto

from scrm.wechat.crypto import CryptoError, MessageCrypto, SignatureMismatch, WrongAppId
from scrm.wechat.parse import parse

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

VECTOR_B = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9F"
    "rXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+"
    "WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0E"
    "IBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)
VECTOR_C = (
    "D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+"
    "ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTt"
    "uJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aT"
    "b7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZ"
    "INmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg=="
)


def test_vector_a_encrypt_with_fixed_random() -> None:
    c = MessageCrypto("pamtest", KEY, "wxb11529c136998cb6")
    encrypted = c.encrypt("我是中文abcd123", random_prefix=b"aaaabbbbccccdddd")
    assert encrypted == ("jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==")
    assert c.msg_signature("1409304348", "xxxxxx", encrypted) == "82c962d39941aa48552f90ef55aa323dc620cc10"
    assert c.decrypt(encrypted) == "我是中文abcd123"


def test_vector_b_decrypt_python_sample() -> None:
    c = MessageCrypto("spamtest", KEY, "wx2c2769f8efd9abc2")
    xml = c.verify_and_decrypt("5d197aaffba7e9b25a30732f161a50dee96bd5fa", "1409735669", "1320562132", VECTOR_B)
    msg = parse("demo", xml)
    assert (msg.openid, msg.to_user, msg.content, msg.msg_id) == (
        "oyORnuP8q7ou2gfYjqLzSIWZf0rs", "gh_10f6c3c3ac5a", "abcdteT", "6054768590064713728")


def test_vector_c_decrypt_2024_example() -> None:
    c = MessageCrypto("AAAAA", "A" * 43, "wx134c8103faa5a59e")
    xml = c.verify_and_decrypt("6c12a4205838198b8fa631b3220723bb07f1015c", "1715943329", "1590219412", VECTOR_C)
    assert len(xml.encode("utf-8")) == 292
    assert "<Event><![CDATA[debug_demo]]></Event>" in xml
    assert "<debug_str><![CDATA[hello world]]></debug_str>" in xml


def test_wrong_msg_signature_is_refused_before_decrypting() -> None:
    c = MessageCrypto("spamtest", KEY, "wx2c2769f8efd9abc2")
    with pytest.raises(SignatureMismatch):
        c.verify_and_decrypt("5d197aaffba7e9b25a30732f161a50dee96bd5fb", "1409735669", "1320562132", VECTOR_B)


def test_message_for_another_app_id_is_refused() -> None:
    c = MessageCrypto("spamtest", KEY, "wxsomeoneelse00001")
    with pytest.raises(WrongAppId):
        c.decrypt(VECTOR_B)


def test_our_replies_decrypt_with_wechatpy_and_theirs_with_ours() -> None:
    ours = MessageCrypto("tok123", KEY, "wxapp000000000001")
    theirs = WeChatCrypto("tok123", KEY, "wxapp000000000001")
    reply = "<xml><Content><![CDATA[你好]]></Content></xml>"
    envelope = ours.encrypt_reply(reply, "nonce1", "1700000000")
    assert "<MsgSignature>" in envelope
    doc_encrypt = envelope.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    sig = envelope.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
    assert theirs.decrypt_message(envelope, sig, "1700000000", "nonce1") == reply
    assert ours.msg_signature("1700000000", "nonce1", doc_encrypt) == sig
    theirs_envelope = theirs.encrypt_message(reply, "n2", "1700000001")
    encrypted = theirs_envelope.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    assert ours.decrypt(encrypted) == reply


@pytest.mark.parametrize("size", [0, 1, 31, 32, 33, 1000])
def test_round_trip_across_padding_boundaries(size: int) -> None:
    c = MessageCrypto("tok123", KEY, "wxapp000000000001")
    text = "x" * size
    assert c.decrypt(c.encrypt(text)) == text


def _raw_cipher(plain: bytes) -> str:
    key = base64.b64decode(KEY + "=")
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


@pytest.mark.parametrize("encrypted", [
    "",
    "not base64 at all!!",
    "QUJD",                                   # valid base64, 3 bytes: not whole blocks
    base64.b64encode(b"0" * 40).decode(),     # not a multiple of 16
    base64.b64encode(b"0" * 16).decode(),     # shorter than one 32-byte padding block
    "A" * 10_000_000,                         # oversized
])
def test_malformed_ciphertexts_raise_crypto_error(encrypted: str) -> None:
    with pytest.raises(CryptoError):
        MessageCrypto("tok123", KEY, "wxapp000000000001").decrypt(encrypted)


def test_bad_padding_and_bad_length_field_raise_crypto_error() -> None:
    c = MessageCrypto("tok123", KEY, "wxapp000000000001")
    bad_pad = b"r" * 16 + struct.pack(">I", 3) + b"abc" + b"wxapp000000000001" + bytes([0]) * 24
    with pytest.raises(CryptoError, match="padding"):
        c.decrypt(_raw_cipher(bad_pad))
    body = b"r" * 16 + struct.pack(">I", 3) + b"abc" + b"wxapp000000000001"
    fill = 32 - len(body) % 32
    mixed_pad = body + bytes([7]) * (fill - 1) + bytes([fill])   # last byte says N, the others disagree
    with pytest.raises(CryptoError, match="padding"):
        c.decrypt(_raw_cipher(mixed_pad))
    too_long = b"r" * 16 + struct.pack(">I", 10_000) + b"abc" + b"wxapp000000000001"
    pad = 32 - len(too_long) % 32
    with pytest.raises(CryptoError, match="length"):
        c.decrypt(_raw_cipher(too_long + bytes([pad]) * pad))


def test_previous_key_still_decrypts_during_rotation_and_replies_use_the_new_key() -> None:
    old_key, new_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "A" * 43
    before = MessageCrypto("tok", old_key, "wxrotate").encrypt("<xml>in flight</xml>")
    after = MessageCrypto("tok", new_key, "wxrotate").encrypt("<xml>new</xml>")
    rotating = MessageCrypto("tok", new_key, "wxrotate", previous_key=old_key)
    assert rotating.decrypt(before) == "<xml>in flight</xml>"
    assert rotating.decrypt(after) == "<xml>new</xml>"
    reply = rotating.encrypt("<xml>reply</xml>")
    assert MessageCrypto("tok", new_key, "wxrotate").decrypt(reply) == "<xml>reply</xml>"
    with pytest.raises(CryptoError):
        MessageCrypto("tok", old_key, "wxrotate").decrypt(reply)
    with pytest.raises(CryptoError):  # without the previous key the in-flight push is refused
        MessageCrypto("tok", new_key, "wxrotate").decrypt(before)
