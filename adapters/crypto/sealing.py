"""Sealed blobs: bytes encrypted under the keyring, carrying what opens them.

Layout, version 1: `0x01 | len(key_id) | key_id (ASCII) | nonce (12) | ciphertext+tag`.
The header is authenticated as associated data, under a label of its own, so a blob
cannot be passed off as a vault entry nor have its header swapped.
"""

from __future__ import annotations

from adapters.crypto.keyring import NONCE_BYTES, Ciphertext, Keyring
from contracts.ports.vault import SealBroken

_VERSION = 1
_LABEL = b"switchboard/sealed:"
_TAG_BYTES = 16


def seal(keyring: Keyring, data: bytes) -> bytes:
    key_id = keyring.newest_key_id.encode("ascii")
    header = bytes([_VERSION, len(key_id)]) + key_id
    ciphertext = keyring.encrypt(data, _LABEL + header)
    return header + ciphertext.nonce + ciphertext.data


def unseal(keyring: Keyring, sealed: bytes) -> bytes:
    """Raises `SealBroken` for a blob that is not one, is altered, or is under a key
    the keyring lacks."""
    if len(sealed) < 2 or sealed[0] != _VERSION:
        raise SealBroken("not a sealed blob: it does not start with a known format version")
    header_end = 2 + sealed[1]
    if len(sealed) < header_end + NONCE_BYTES + _TAG_BYTES:
        raise SealBroken(f"the sealed blob is truncated ({len(sealed)} bytes)")
    header = sealed[:header_end]
    try:
        key_id = header[2:].decode("ascii")
    except UnicodeDecodeError:
        raise SealBroken("the sealed blob's key id is not ASCII: it was altered") from None
    nonce = sealed[header_end : header_end + NONCE_BYTES]
    data = sealed[header_end + NONCE_BYTES :]
    return keyring.decrypt(Ciphertext(key_id, nonce, data), _LABEL + header)
