"""AES-256-GCM keys with ids: the first encrypts, every one decrypts, so keys rotate.

`PII_ENCRYPTION_KEYS` is a comma-separated list of `key_id:base64(32 bytes)`, newest
first. To rotate: put a new key in front, deploy, run `switchboard keys rotate`, and
only then drop the old key. Every ciphertext records its key id, so a reader knows
which key opens it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters.crypto.key_encoding import InvalidKeySetting, decode_key, encode_key
from contracts.ports.vault import SealBroken

KEY_BYTES = 32
NONCE_BYTES = 12
"""96-bit random nonces, AES-GCM's native size. Under one key that stays safe for
about 2^32 encryptions; rotating keys keeps every key far below that."""

_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class Ciphertext:
    key_id: str
    nonce: bytes
    data: bytes
    """The encrypted bytes followed by GCM's 16-byte tag."""


class Keyring:
    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        """`keys` as (key id, 32-byte key), newest first."""
        if not keys:
            raise InvalidKeySetting("PII_ENCRYPTION_KEYS holds no key; it needs at least one")
        ciphers: dict[str, AESGCM] = {}
        for key_id, key in keys:
            if not _KEY_ID.fullmatch(key_id):
                raise InvalidKeySetting(
                    f"key id {key_id!r} in PII_ENCRYPTION_KEYS must be 1 to 64 letters, "
                    "digits, '.', '_' or '-'"
                )
            if key_id in ciphers:
                raise InvalidKeySetting(f"key id {key_id!r} appears twice in PII_ENCRYPTION_KEYS")
            if len(key) != KEY_BYTES:
                raise InvalidKeySetting(
                    f"key {key_id!r} in PII_ENCRYPTION_KEYS is {len(key)} bytes long; "
                    f"AES-256 keys are {KEY_BYTES} bytes (44 characters of base64)"
                )
            ciphers[key_id] = AESGCM(key)
        self._keys = tuple((key_id, bytes(key)) for key_id, key in keys)
        self._ciphers = ciphers

    @classmethod
    def parse(cls, setting: str) -> Keyring:
        """The keyring of a `PII_ENCRYPTION_KEYS` setting."""
        if not setting.strip():
            raise InvalidKeySetting(
                "PII_ENCRYPTION_KEYS is empty; `switchboard keys generate` prints a key"
            )
        keys: list[tuple[str, bytes]] = []
        for position, entry in enumerate(setting.split(","), start=1):
            key_id, colon, text = entry.strip().partition(":")
            if not colon or not key_id or not text:
                raise InvalidKeySetting(
                    f"entry {position} of PII_ENCRYPTION_KEYS is not `key_id:base64key`"
                )
            keys.append((key_id, decode_key(text, f"key {key_id!r} of PII_ENCRYPTION_KEYS")))
        return cls(keys)

    @classmethod
    def generate(cls, key_id: str) -> Keyring:
        """A keyring of one fresh random key."""
        return cls([(key_id, secrets.token_bytes(KEY_BYTES))])

    def format(self) -> str:
        """The `PII_ENCRYPTION_KEYS` setting of this keyring."""
        return ",".join(f"{key_id}:{encode_key(key)}" for key_id, key in self._keys)

    @property
    def newest_key_id(self) -> str:
        """The key that encrypts."""
        return self._keys[0][0]

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(key_id for key_id, _ in self._keys)

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> Ciphertext:
        """Encrypt under the newest key. `associated_data` is authenticated, not
        stored: decrypting needs the same bytes, which binds the ciphertext to them."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        key_id = self.newest_key_id
        data = self._ciphers[key_id].encrypt(nonce, plaintext, associated_data)
        return Ciphertext(key_id, nonce, data)

    def decrypt(self, ciphertext: Ciphertext, associated_data: bytes) -> bytes:
        """Raises `SealBroken` for an unknown key id or a ciphertext that does not
        authenticate with `associated_data`."""
        cipher = self._ciphers.get(ciphertext.key_id)
        if cipher is None:
            raise SealBroken(
                f"encrypted under key {ciphertext.key_id!r}, which PII_ENCRYPTION_KEYS "
                f"lacks (it holds {', '.join(map(repr, self.key_ids))}); put that key back "
                "to read it"
            )
        if len(ciphertext.nonce) != NONCE_BYTES:
            raise SealBroken(f"the nonce is {len(ciphertext.nonce)} bytes, not {NONCE_BYTES}")
        try:
            return cipher.decrypt(ciphertext.nonce, ciphertext.data, associated_data)
        except InvalidTag:
            raise SealBroken(
                f"the ciphertext under key {ciphertext.key_id!r} does not authenticate: it "
                "was altered, or belongs to another record"
            ) from None

    def __repr__(self) -> str:
        return f"Keyring(key_ids={self.key_ids!r})"
