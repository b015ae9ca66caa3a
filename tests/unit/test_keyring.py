"""The key settings: `PII_ENCRYPTION_KEYS` (a keyring) and `PII_HASH_KEY`."""

from __future__ import annotations

import base64

import pytest

from adapters.crypto.hashing import contact_hash, generate_hash_key, parse_hash_key
from adapters.crypto.key_encoding import InvalidKeySetting
from adapters.crypto.keyring import Ciphertext, Keyring
from contracts.ports.vault import SealBroken

KEY_A = base64.b64encode(b"A" * 32).decode()
KEY_B = base64.b64encode(b"B" * 32).decode()


def test_a_setting_parses_newest_first_and_formats_back() -> None:
    setting = f"2026-11:{KEY_A},2026-05:{KEY_B}"

    keyring = Keyring.parse(setting)

    assert keyring.newest_key_id == "2026-11"
    assert keyring.key_ids == ("2026-11", "2026-05")
    assert keyring.format() == setting
    assert Keyring.parse(f" 2026-11:{KEY_A} , 2026-05:{KEY_B} ").format() == setting


def test_a_generated_key_is_fresh_and_usable() -> None:
    first, second = Keyring.generate("dev1"), Keyring.generate("dev1")

    assert first.format() != second.format()
    assert first.format().startswith("dev1:")
    assert len(base64.b64decode(first.format().removeprefix("dev1:"))) == 32
    assert Keyring.parse(first.format()).key_ids == ("dev1",)


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (KEY_A, "entry 1 .* not `key_id:base64key`"),
        (f"k1:{KEY_A},", "entry 2 .* not `key_id:base64key`"),
        (f":{KEY_A}", "entry 1"),
        ("k1:", "entry 1"),
        ("k1:not base64!", "'k1' .* not valid base64"),
        (f"k1:{KEY_A[:-1]}", "'k1' .* not valid base64"),
        (f"k1:{base64.b64encode(b'x' * 16).decode()}", "'k1' .* 16 bytes long"),
        (f"k1:{KEY_A},k1:{KEY_B}", "'k1' appears twice"),
        (f"k 1:{KEY_A}", "key id 'k 1'"),
        (f"{'k' * 65}:{KEY_A}", "1 to 64"),
    ],
)
def test_a_malformed_setting_is_refused_with_a_reason(setting: str, reason: str) -> None:
    with pytest.raises(InvalidKeySetting, match=reason) as raised:
        Keyring.parse(setting)

    assert KEY_A not in str(raised.value)


def test_the_keys_never_show_in_a_repr() -> None:
    keyring = Keyring.parse(f"k1:{KEY_A}")

    assert KEY_A not in repr(keyring)
    assert "k1" in repr(keyring)


def test_the_newest_key_encrypts_and_every_key_decrypts() -> None:
    old = Keyring.parse(f"k1:{KEY_B}")
    both = Keyring.parse(f"k2:{KEY_A},k1:{KEY_B}")
    under_old = old.encrypt(b"+5511999990001", b"contact-1")

    under_new = both.encrypt(b"+5511999990001", b"contact-1")

    assert under_new.key_id == "k2"
    assert len(under_new.nonce) == 12
    assert both.decrypt(under_old, b"contact-1") == b"+5511999990001"
    assert both.decrypt(under_new, b"contact-1") == b"+5511999990001"


def test_the_associated_data_is_bound() -> None:
    keyring = Keyring.parse(f"k1:{KEY_A}")
    ciphertext = keyring.encrypt(b"+5511999990001", b"contact-1")

    with pytest.raises(SealBroken, match="does not authenticate"):
        keyring.decrypt(ciphertext, b"contact-2")


def test_an_unknown_key_id_is_named() -> None:
    keyring = Keyring.parse(f"k1:{KEY_A}")
    ciphertext = Ciphertext("k0", b"\0" * 12, b"\0" * 32)

    with pytest.raises(SealBroken, match="'k0', which PII_ENCRYPTION_KEYS lacks"):
        keyring.decrypt(ciphertext, b"")


def test_a_short_nonce_is_refused() -> None:
    keyring = Keyring.parse(f"k1:{KEY_A}")
    good = keyring.encrypt(b"x", b"")

    with pytest.raises(SealBroken, match="nonce"):
        keyring.decrypt(Ciphertext("k1", good.nonce[:8], good.data), b"")


# -- PII_HASH_KEY ------------------------------------------------------------------


def test_a_hash_key_is_base64_of_at_least_32_bytes() -> None:
    setting = generate_hash_key()

    key = parse_hash_key(setting)

    assert len(key) == 32
    assert generate_hash_key() != setting


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ("", "at least 32 bytes"),
        (base64.b64encode(b"x" * 31).decode(), "holds 31"),
        ("not base64!", "PII_HASH_KEY is not valid base64"),
    ],
)
def test_a_bad_hash_key_is_refused(setting: str, reason: str) -> None:
    with pytest.raises(InvalidKeySetting, match=reason):
        parse_hash_key(setting)


def test_the_contact_hash_is_a_pinned_hmac_sha256() -> None:
    """Every from_hash ever stored depends on this construction: it must not drift."""
    digest = contact_hash(b"k" * 32, "+5511999990001")

    assert digest == "34e0813414928cd85fd8c8fd839136e3534422c6d4f2f474b555d37bf4af11c2"
    assert contact_hash(b"j" * 32, "+5511999990001") != digest
