"""What is sealed for one contact (an operator's message to them): encrypted under the
contact's own key, which lives in their vault entry, with their `from_hash` as
associated data. Forgetting the entry forgets the key, and with it every blob.

Layout, version 1: `0x01 | nonce (12) | ciphertext+tag`.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.ports.vault import ContactIdentity, SealBroken

_VERSION = 1
_LABEL = b"switchboard/sealed-for:"
_NONCE_BYTES = 12
_TAG_BYTES = 16


def new_sealing_key() -> str:
    """32 random bytes, URL-safe base64 without padding (`ContactIdentity.sealing_key`)."""
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode("ascii")


def seal_for(sealing_key: str, from_hash: str, data: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    header = bytes([_VERSION])
    sealed = _cipher(sealing_key).encrypt(nonce, data, _associated(header, from_hash))
    return header + nonce + sealed


def unseal_for(sealing_key: str, from_hash: str, sealed: bytes) -> bytes:
    """Raises `SealBroken` for a blob that is not one, is altered, or was sealed for
    another contact."""
    if len(sealed) < 1 + _NONCE_BYTES + _TAG_BYTES or sealed[0] != _VERSION:
        raise SealBroken("not a blob sealed for a contact (unknown format or truncated)")
    header, nonce, data = sealed[:1], sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
    try:
        return _cipher(sealing_key).decrypt(nonce, data, _associated(header, from_hash))
    except InvalidTag:
        raise SealBroken("the blob does not open: altered, or sealed for another contact") from None


def open_for(identity: ContactIdentity | None, from_hash: str, sealed: bytes) -> bytes | None:
    """`Vault.unseal_for` over the contact's identity as the vault holds it (None when
    forgotten or unknown)."""
    if identity is None:
        return None
    if identity.sealing_key is None:
        raise SealBroken("nothing was sealed for this contact: it has no sealing key")
    return unseal_for(identity.sealing_key, from_hash, sealed)


def _cipher(sealing_key: str) -> AESGCM:
    return AESGCM(base64.urlsafe_b64decode(sealing_key + "="))


def _associated(header: bytes, from_hash: str) -> bytes:
    return _LABEL + header + from_hash.encode("ascii")
