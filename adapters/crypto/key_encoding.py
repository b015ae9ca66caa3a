"""How keys are written in settings: standard base64 (with padding), never hex.

One encoding for `PII_HASH_KEY` and every key of `PII_ENCRYPTION_KEYS`, so an operator
never has to guess; `switchboard keys generate` prints both. Error messages name the
setting and what is wrong with it, never the key material.
"""

from __future__ import annotations

import base64
import binascii


class InvalidKeySetting(ValueError):
    """A key setting cannot be used; the message says which and why."""


def decode_key(text: str, what: str) -> bytes:
    """The bytes of a base64 key; `what` names it in errors (e.g. "PII_HASH_KEY")."""
    try:
        return base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        raise InvalidKeySetting(
            f"{what} is not valid base64 (standard alphabet, with '=' padding)"
        ) from None


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")
