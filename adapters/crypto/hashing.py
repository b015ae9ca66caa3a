"""`from_hash`: HMAC-SHA256 of a normalised identity under the project's `PII_HASH_KEY`.

A keyed hash, not a plain one: Brazil has a few hundred million phone numbers, so an
unkeyed SHA-256 of one is reversed by trying them all. Without the key, the hash says
nothing. The key never rotates: every `from_hash` in every event depends on it.
`PII_HASH_KEY` is base64 of at least 32 random bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from adapters.crypto.key_encoding import InvalidKeySetting, decode_key, encode_key

HASH_KEY_MIN_BYTES = 32


def contact_hash(hash_key: bytes, identity: str) -> str:
    """64 lowercase hex characters."""
    return hmac.new(hash_key, identity.encode("utf-8"), hashlib.sha256).hexdigest()


MESSAGE_REF_DOMAIN = b"whatsapp-message-id\x00"
"""Keeps message refs and contact hashes apart: no identity hashes to a message's ref."""


def message_ref(hash_key: bytes, wa_message_id: str) -> str:
    """64 lowercase hex characters."""
    data = MESSAGE_REF_DOMAIN + wa_message_id.encode("utf-8")
    return hmac.new(hash_key, data, hashlib.sha256).hexdigest()


def check_hash_key(hash_key: bytes) -> bytes:
    if len(hash_key) < HASH_KEY_MIN_BYTES:
        raise InvalidKeySetting(
            f"PII_HASH_KEY must hold at least {HASH_KEY_MIN_BYTES} bytes, it holds "
            f"{len(hash_key)}; `switchboard keys generate` prints a fresh one"
        )
    return hash_key


def parse_hash_key(setting: str) -> bytes:
    """The key in a `PII_HASH_KEY` setting (base64)."""
    return check_hash_key(decode_key(setting, "PII_HASH_KEY"))


def generate_hash_key() -> str:
    """A fresh `PII_HASH_KEY` setting."""
    return encode_key(secrets.token_bytes(HASH_KEY_MIN_BYTES))
