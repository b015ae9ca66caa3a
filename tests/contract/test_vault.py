"""The Vault contract: every adapter runs these unchanged.

Several tests look under the adapter, at the raw SQLite file or every Firestore
document, because the promise is about what is stored: no number in clear, and
nothing left of a forgotten one.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from contracts.ports.vault import ContactIdentity, SealBroken, Vault
from tests.backends import VAULT_KEYS, Backend, number_in

PHONE = "+5511999990001"
BSUID = "BR.1502576394655843"
OTHER_PHONE = "+5521988887777"
NEWEST_KEY, OLDER_KEY = VAULT_KEYS.split(",")
UNKNOWN_KEY = "k0:ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM="
FRESH_KEY = "k3:ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM="


# -- looking under the adapter -----------------------------------------------------


def stored(backend: Backend) -> bytes:
    """Every byte the back end keeps: the SQLite file with its log, or every field of
    every Firestore document."""
    if backend.kind == "sqlite":
        base = Path(backend.sqlite_path)
        files = [base, base.with_name(base.name + "-wal"), base.with_name(base.name + "-shm")]
        return b"".join(path.read_bytes() for path in files if path.exists())
    return b"\0".join(_flatten(document) for document in _all_documents(backend))


def raw_entry(backend: Backend, from_hash: str) -> dict[str, Any] | None:
    if backend.kind == "sqlite":
        with closing(sqlite3.connect(backend.sqlite_path)) as connection:
            row = connection.execute(
                "SELECT key_id, nonce, ciphertext FROM contacts WHERE from_hash = ?", (from_hash,)
            ).fetchone()
        return (
            None if row is None else dict(zip(("key_id", "nonce", "ciphertext"), row, strict=True))
        )
    snapshot = _firestore(backend).collection("contacts").document(from_hash).get()
    return snapshot.to_dict() if snapshot.exists else None


def overwrite_entry(backend: Backend, from_hash: str, fields: dict[str, Any]) -> None:
    if backend.kind == "sqlite":
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with closing(sqlite3.connect(backend.sqlite_path)) as connection, connection:
            connection.execute(
                f"UPDATE contacts SET {assignments} WHERE from_hash = ?",
                [*fields.values(), from_hash],
            )
        return
    _firestore(backend).collection("contacts").document(from_hash).update(fields)


def _firestore(backend: Backend) -> Any:
    from google.cloud import firestore

    return firestore.Client(project=backend.project)


def _all_documents(backend: Backend) -> Iterator[dict[str, Any]]:
    for collection in _firestore(backend).collections():
        for snapshot in collection.stream():
            yield {"__name__": snapshot.id, **(snapshot.to_dict() or {})}


def _flatten(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, dict):
        return b"\0".join(_flatten(k) + b"=" + _flatten(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return b"\0".join(map(_flatten, value))
    return str(value).encode()


def in_clear(number: str, data: bytes) -> bool:
    return number.encode() in data or number.lstrip("+").encode() in data


# -- hashing -----------------------------------------------------------------------


def test_a_contact_hash_is_64_hex_characters_and_deterministic(vault: Vault) -> None:
    first = vault.contact_hash(PHONE)

    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert vault.contact_hash(PHONE) == first
    assert vault.contact_hash(OTHER_PHONE) != first
    assert vault.contact_hash("BR.1502576394655843") != first
    assert PHONE.lstrip("+") not in first


def test_a_contact_hash_depends_on_the_hash_key(backend: Backend, vault: Vault) -> None:
    other = backend.vault(hash_key=b"another PII_HASH_KEY of at least 32 bytes")

    assert other.contact_hash(PHONE) != vault.contact_hash(PHONE)


def test_a_short_hash_key_is_refused(backend: Backend) -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        backend.vault(hash_key=b"too short")


# -- remember, reveal, forget ------------------------------------------------------


def test_a_remembered_number_is_revealed(vault: Vault) -> None:
    from_hash = vault.contact_hash(PHONE)

    vault.remember(ContactIdentity(e164=PHONE))

    assert number_in(vault, from_hash) == PHONE


def test_an_unknown_contact_reveals_nothing(vault: Vault) -> None:
    assert number_in(vault, vault.contact_hash(PHONE)) is None


def test_remembering_again_changes_nothing(backend: Backend, vault: Vault) -> None:
    from_hash = vault.contact_hash(PHONE)
    vault.remember(ContactIdentity(e164=PHONE))
    before = raw_entry(backend, from_hash)

    vault.remember(ContactIdentity(e164=PHONE))

    assert number_in(vault, from_hash) == PHONE
    assert raw_entry(backend, from_hash) == before


def test_remembering_another_number_replaces_it(vault: Vault) -> None:
    from_hash = vault.remember(ContactIdentity(bsuid=BSUID, e164=PHONE))

    assert vault.remember(ContactIdentity(bsuid=BSUID, e164=OTHER_PHONE)) == from_hash

    assert number_in(vault, from_hash) == OTHER_PHONE
    assert vault.contact_of(ContactIdentity(e164=PHONE)) is None, "the old number names no one"
    assert vault.contact_of(ContactIdentity(e164=OTHER_PHONE)) == from_hash


def test_the_number_is_stored_encrypted_under_the_newest_key(
    backend: Backend, vault: Vault
) -> None:
    from_hash = vault.contact_hash(PHONE)

    vault.remember(ContactIdentity(e164=PHONE))

    entry = raw_entry(backend, from_hash)
    assert entry is not None
    assert entry["key_id"] == "k2"
    assert len(entry["nonce"]) == 12
    assert not in_clear(PHONE, stored(backend))


def test_encryption_is_randomised(backend: Backend, vault: Vault) -> None:
    """Two contacts with one number do not share a ciphertext (nor does a re-write)."""
    first = vault.remember(ContactIdentity(e164=PHONE))
    vault.forget(first)
    second = vault.remember(ContactIdentity(bsuid="BR.1", e164=PHONE))
    vault.forget(second)
    first = vault.remember(ContactIdentity(e164=PHONE))
    second = vault.remember(ContactIdentity(bsuid="BR.2", e164=OTHER_PHONE))

    one, two = raw_entry(backend, first), raw_entry(backend, second)

    assert one is not None
    assert two is not None
    assert one["nonce"] != two["nonce"]
    assert one["ciphertext"] != two["ciphertext"]


@pytest.mark.parametrize("number", ["5511999990001", "+55 11 99999-0001", "", "+0123456789"])
def test_only_normalised_numbers_are_kept(vault: Vault, number: str) -> None:
    with pytest.raises(ValueError, match="should match pattern"):
        vault.remember(ContactIdentity(e164=number))


@pytest.mark.parametrize("from_hash", ["", "abc", "A" * 64, "../" + "a" * 61])
def test_a_malformed_hash_is_refused(vault: Vault, from_hash: str) -> None:
    with pytest.raises(ValueError, match="64 lowercase hex"):
        number_in(vault, from_hash)
    with pytest.raises(ValueError, match="64 lowercase hex"):
        vault.change_number(from_hash, PHONE)
    with pytest.raises(ValueError, match="64 lowercase hex"):
        vault.forget(from_hash)


def test_forgetting_erases_the_entry_from_storage(backend: Backend, vault: Vault) -> None:
    from_hash = vault.contact_hash(PHONE)
    vault.remember(ContactIdentity(e164=PHONE))
    vault.remember(ContactIdentity(e164=OTHER_PHONE))
    entry = raw_entry(backend, from_hash)
    assert entry is not None
    assert entry["ciphertext"] in stored(backend)

    assert vault.forget(from_hash) is True

    assert number_in(vault, from_hash) is None
    assert raw_entry(backend, from_hash) is None
    everything = stored(backend)
    assert entry["ciphertext"] not in everything
    assert entry["nonce"] not in everything
    assert number_in(vault, vault.contact_hash(OTHER_PHONE)) == OTHER_PHONE


def test_forgetting_an_unknown_contact_says_so(vault: Vault) -> None:
    assert vault.forget(vault.contact_hash(PHONE)) is False


def test_a_forgotten_contact_that_writes_again_is_remembered_again(vault: Vault) -> None:
    from_hash = vault.contact_hash(PHONE)
    vault.remember(ContactIdentity(e164=PHONE))
    vault.forget(from_hash)

    vault.remember(ContactIdentity(e164=PHONE))

    assert number_in(vault, from_hash) == PHONE


# -- one person, one contact -------------------------------------------------------


def test_a_contact_known_only_by_bsuid_is_kept_whole(backend: Backend, vault: Vault) -> None:
    seen = ContactIdentity(
        bsuid=BSUID, parent_user_id="BR.ENT.99", profile_name="Ana Lima", username="@ana"
    )

    from_hash = vault.remember(seen)

    assert from_hash == vault.contact_hash(BSUID), "keyed as contacts always were"
    assert vault.reveal(from_hash) == seen
    everything = stored(backend)
    assert b"Ana Lima" not in everything
    assert BSUID.encode() not in everything


@pytest.mark.parametrize("first", ["bsuid", "number"])
def test_a_bsuid_and_a_number_of_one_person_are_one_contact(vault: Vault, first: str) -> None:
    by_bsuid, by_number = ContactIdentity(bsuid=BSUID), ContactIdentity(e164=PHONE)
    earlier = vault.remember(by_bsuid if first == "bsuid" else by_number)

    both = vault.remember(ContactIdentity(bsuid=BSUID, e164=PHONE, profile_name="Ana"))

    assert both == earlier
    assert vault.remember(by_bsuid) == earlier
    assert vault.remember(by_number) == earlier
    assert vault.reveal(earlier) == ContactIdentity(bsuid=BSUID, e164=PHONE, profile_name="Ana")


def test_what_was_not_seen_is_kept(vault: Vault) -> None:
    from_hash = vault.remember(ContactIdentity(bsuid=BSUID, e164=PHONE, profile_name="Ana"))

    vault.remember(ContactIdentity(bsuid=BSUID, username="@ana"))

    assert vault.reveal(from_hash) == ContactIdentity(
        bsuid=BSUID, e164=PHONE, profile_name="Ana", username="@ana"
    )


def test_a_known_contact_writes_nothing(backend: Backend, vault: Vault) -> None:
    seen = ContactIdentity(bsuid=BSUID, e164=PHONE, profile_name="Ana")
    from_hash = vault.remember(seen)
    before = raw_entry(backend, from_hash)

    assert vault.remember(seen) == from_hash

    assert raw_entry(backend, from_hash) == before


def test_an_unknown_contact_is_found_by_nothing(vault: Vault) -> None:
    assert vault.contact_of(ContactIdentity(bsuid=BSUID, e164=PHONE)) is None
    assert vault.reveal(vault.contact_hash(BSUID)) is None


def test_a_changed_number_moves_the_identity(vault: Vault) -> None:
    from_hash = vault.remember(ContactIdentity(e164=PHONE, profile_name="Ana"))

    assert vault.change_number(from_hash, OTHER_PHONE) is True

    assert vault.reveal(from_hash) == ContactIdentity(e164=OTHER_PHONE, profile_name="Ana")
    assert vault.remember(ContactIdentity(e164=OTHER_PHONE)) == from_hash
    assert vault.contact_of(ContactIdentity(e164=PHONE)) is None
    stranger = vault.remember(ContactIdentity(e164=PHONE))
    assert stranger != from_hash, "whoever gets the old number is someone else"
    assert number_in(vault, from_hash) == OTHER_PHONE
    assert number_in(vault, stranger) == PHONE


def test_a_changed_user_id_moves_the_identity(vault: Vault) -> None:
    new_bsuid = "BR.9990001112223334"
    from_hash = vault.remember(ContactIdentity(bsuid=BSUID, profile_name="Ana"))

    assert vault.change_user_id(from_hash, new_bsuid, "BR.PARENT.1") is True

    assert vault.reveal(from_hash) == ContactIdentity(
        bsuid=new_bsuid, parent_user_id="BR.PARENT.1", profile_name="Ana"
    )
    assert vault.remember(ContactIdentity(bsuid=new_bsuid)) == from_hash
    assert vault.contact_of(ContactIdentity(bsuid=BSUID)) is None
    assert vault.change_user_id(vault.contact_hash(new_bsuid + "0"), BSUID) is False


def test_changing_the_number_of_an_unknown_contact_says_so(vault: Vault) -> None:
    assert vault.change_number(vault.contact_hash(PHONE), OTHER_PHONE) is False


def test_forgetting_erases_every_alias_and_the_name(backend: Backend, vault: Vault) -> None:
    from_hash = vault.remember(ContactIdentity(bsuid=BSUID, e164=PHONE, profile_name="Ana"))
    kept = vault.remember(ContactIdentity(e164=OTHER_PHONE, profile_name="Bia"))

    assert vault.forget(from_hash) is True

    assert vault.reveal(from_hash) is None
    assert vault.contact_of(ContactIdentity(bsuid=BSUID)) is None
    assert vault.contact_of(ContactIdentity(e164=PHONE)) is None
    assert from_hash.encode() not in stored(backend)
    assert vault.reveal(kept) == ContactIdentity(e164=OTHER_PHONE, profile_name="Bia")


def test_an_entry_kept_before_aliases_is_still_its_contact(backend: Backend, vault: Vault) -> None:
    """Entries written by earlier versions hold only the number, and no alias names
    them: the contact keyed by its BSUID then must stay that contact."""
    from_hash = vault.contact_hash(BSUID)
    legacy = vault.remember(ContactIdentity(bsuid=BSUID, e164=PHONE))
    _drop_aliases(backend)
    overwrite_entry(backend, legacy, _legacy_fields(backend, vault, from_hash, PHONE))
    assert number_in(vault, from_hash) == PHONE

    assert vault.remember(ContactIdentity(bsuid=BSUID, e164=PHONE, profile_name="Ana")) == from_hash

    assert vault.remember(ContactIdentity(e164=PHONE)) == from_hash
    assert vault.reveal(from_hash) == ContactIdentity(bsuid=BSUID, e164=PHONE, profile_name="Ana")


def _drop_aliases(backend: Backend) -> None:
    if backend.kind == "sqlite":
        with closing(sqlite3.connect(backend.sqlite_path)) as connection, connection:
            connection.execute("DELETE FROM contact_aliases")
        return
    for snapshot in _firestore(backend).collection("contact_aliases").stream():
        snapshot.reference.delete()


def _legacy_fields(backend: Backend, vault: Vault, from_hash: str, e164: str) -> dict[str, Any]:
    """An entry as earlier versions wrote it: the bare number under the contact label."""
    from adapters.crypto.keyring import Keyring

    keyring = Keyring.parse(NEWEST_KEY)
    sealed = keyring.encrypt(e164.encode(), b"switchboard/contact:" + from_hash.encode())
    return {"key_id": sealed.key_id, "nonce": sealed.nonce, "ciphertext": sealed.data}


# -- integrity ---------------------------------------------------------------------


def test_a_tampered_ciphertext_is_refused(backend: Backend, vault: Vault) -> None:
    from_hash = vault.contact_hash(PHONE)
    vault.remember(ContactIdentity(e164=PHONE))
    entry = raw_entry(backend, from_hash)
    assert entry is not None
    tampered = bytearray(entry["ciphertext"])
    tampered[0] ^= 1

    overwrite_entry(backend, from_hash, {"ciphertext": bytes(tampered)})

    with pytest.raises(SealBroken, match="does not authenticate"):
        number_in(vault, from_hash)


def test_a_ciphertext_moved_to_another_contact_is_refused(backend: Backend, vault: Vault) -> None:
    victim, impostor = vault.contact_hash(PHONE), vault.contact_hash(OTHER_PHONE)
    vault.remember(ContactIdentity(e164=PHONE))
    vault.remember(ContactIdentity(e164=OTHER_PHONE))
    entry = raw_entry(backend, victim)
    assert entry is not None

    overwrite_entry(backend, impostor, entry)

    with pytest.raises(SealBroken):
        number_in(vault, impostor)


def test_remembering_repairs_a_broken_entry(backend: Backend, vault: Vault) -> None:
    from_hash = vault.contact_hash(PHONE)
    vault.remember(ContactIdentity(e164=PHONE))
    overwrite_entry(backend, from_hash, {"ciphertext": b"garbage"})

    vault.remember(ContactIdentity(e164=PHONE))

    assert number_in(vault, from_hash) == PHONE


# -- key rotation ------------------------------------------------------------------


def remember_under_older_key(backend: Backend, numbers: list[str]) -> list[str]:
    older = backend.vault(keys=OLDER_KEY)
    return [older.remember(ContactIdentity(e164=number)) for number in numbers]


def test_an_entry_under_a_key_the_vault_lacks_is_refused(backend: Backend) -> None:
    [from_hash] = remember_under_older_key(backend, [PHONE])

    with pytest.raises(SealBroken, match="'k1'"):
        backend.vault(keys=NEWEST_KEY).reveal(from_hash)


def test_rotation_moves_every_entry_to_the_newest_key(backend: Backend, vault: Vault) -> None:
    numbers = [f"+55119{n:08d}" for n in range(7)]
    old_hashes = remember_under_older_key(backend, numbers)
    current = vault.contact_hash("BR.current")
    vault.remember(ContactIdentity(bsuid="BR.current", e164=OTHER_PHONE))
    calls: list[tuple[int, int]] = []

    report = vault.rotate(lambda done, total: calls.append((done, total)))

    assert (report.total, report.reencrypted, report.already_current) == (8, 7, 1)
    assert report.unreadable == 0
    assert calls == [(done, 8) for done in range(1, 9)]
    newest_only = backend.vault(keys=NEWEST_KEY)
    assert [number_in(newest_only, h) for h in old_hashes] == numbers
    assert number_in(newest_only, current) == OTHER_PHONE
    assert {raw["key_id"] for h in old_hashes if (raw := raw_entry(backend, h))} == {"k2"}


def test_rotation_can_run_again(backend: Backend, vault: Vault) -> None:
    remember_under_older_key(backend, [PHONE, OTHER_PHONE])
    vault.rotate()

    again = vault.rotate()

    assert (again.total, again.reencrypted, again.already_current) == (2, 0, 2)


def test_rotation_of_an_empty_vault_reports_nothing(vault: Vault) -> None:
    report = vault.rotate()

    assert (report.total, report.reencrypted, report.already_current, report.unreadable) == (
        0,
        0,
        0,
        0,
    )


def test_rotation_leaves_unreadable_entries_and_counts_them(backend: Backend, vault: Vault) -> None:
    lost = backend.vault(keys=UNKNOWN_KEY)
    lost_hash = lost.contact_hash(PHONE)
    lost.remember(ContactIdentity(e164=PHONE))
    [old_hash] = remember_under_older_key(backend, [OTHER_PHONE])
    before = raw_entry(backend, lost_hash)

    report = vault.rotate()

    assert (report.total, report.reencrypted, report.unreadable) == (2, 1, 1)
    assert raw_entry(backend, lost_hash) == before
    assert number_in(vault, old_hash) == OTHER_PHONE


def test_a_number_remembered_during_rotation_is_not_lost(backend: Backend, vault: Vault) -> None:
    """Whichever entry the rotation reaches second was read before the first one's
    progress call, and changes in between: the rotation must not write back the old
    number over the new one."""
    hashes = remember_under_older_key(backend, [PHONE, OTHER_PHONE])
    elsewhere = backend.vault()
    new_numbers = ["+5531977776666", "+5541966665555"]

    def remember_new_numbers(done: int, _total: int) -> None:
        if done == 1:
            for from_hash, number in zip(hashes, new_numbers, strict=True):
                elsewhere.change_number(from_hash, number)

    report = vault.rotate(remember_new_numbers)

    assert [number_in(vault, h) for h in hashes] == new_numbers
    assert (report.total, report.reencrypted, report.already_current) == (2, 1, 1)


def test_a_contact_forgotten_during_rotation_stays_forgotten(
    backend: Backend, vault: Vault
) -> None:
    hashes = remember_under_older_key(backend, [PHONE, OTHER_PHONE])

    def forget_both(done: int, _total: int) -> None:
        if done == 1:
            for from_hash in hashes:
                vault.forget(from_hash)

    report = vault.rotate(forget_both)

    assert [number_in(vault, h) for h in hashes] == [None, None]
    assert all(raw_entry(backend, h) is None for h in hashes)
    assert (report.total, report.reencrypted, report.already_current) == (2, 1, 1)


# -- sealed blobs ------------------------------------------------------------------


def test_a_sealed_blob_unseals_on_any_vault_with_its_key(backend: Backend, vault: Vault) -> None:
    body = '{"entry": [{"text": "olá ☕", "from": "5511999990001"}]}'.encode()

    sealed = vault.seal(body)

    assert body not in sealed
    assert b"5511999990001" not in sealed
    assert vault.unseal(sealed) == body
    assert backend.vault(keys=f"{FRESH_KEY},{VAULT_KEYS}").unseal(sealed) == body
    assert vault.seal(body) != sealed


def test_a_sealed_blob_names_its_key(backend: Backend, vault: Vault) -> None:
    sealed = vault.seal(b"raw webhook body")

    with pytest.raises(SealBroken, match="'k2'"):
        backend.vault(keys=OLDER_KEY).unseal(sealed)


def test_any_altered_byte_breaks_the_seal(vault: Vault) -> None:
    sealed = vault.seal(b"raw")

    for position in range(len(sealed)):
        altered = bytearray(sealed)
        altered[position] ^= 0x01
        with pytest.raises(SealBroken):
            vault.unseal(bytes(altered))


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x02k2", b"\x01\x02k2" + b"\0" * 27])
def test_what_is_not_a_sealed_blob_is_refused(vault: Vault, blob: bytes) -> None:
    with pytest.raises(SealBroken):
        vault.unseal(blob)


def test_a_vault_entry_is_not_a_sealed_blob(backend: Backend, vault: Vault) -> None:
    """The two uses of the keyring authenticate different labels."""
    from_hash = vault.contact_hash(PHONE)
    vault.remember(ContactIdentity(e164=PHONE))
    entry = raw_entry(backend, from_hash)
    assert entry is not None

    blob = b"\x01\x02k2" + entry["nonce"] + entry["ciphertext"]

    with pytest.raises(SealBroken):
        vault.unseal(blob)


# -- searching by name -------------------------------------------------------------


def test_a_contact_is_found_by_the_words_of_their_name(vault: Vault) -> None:
    maria = vault.remember(ContactIdentity(e164=PHONE, profile_name="Maria José Souza"))
    marcia = vault.remember(ContactIdentity(bsuid=BSUID, username="márcia_lima"))
    other = vault.remember(ContactIdentity(e164=OTHER_PHONE, profile_name="Ana"))

    assert vault.contacts_named("maria", 10) == [maria]
    assert vault.contacts_named("JOSÉ souza", 10) == [maria]
    assert vault.contacts_named("jose", 10) == [maria]  # accents and case do not matter
    assert vault.contacts_named("Mar", 10) == sorted([maria, marcia])  # the start of a word
    assert vault.contacts_named("mar lima", 10) == [marcia]  # every word
    assert vault.contacts_named("ma", 10) == []  # a prefix of three letters or more
    assert vault.contacts_named("ana", 10) == [other]
    assert vault.contacts_named("mar", 1) == sorted([maria, marcia])[:1]
    assert vault.contacts_named("", 10) == vault.contacts_named("—\x00", 10) == []


def test_a_new_name_replaces_the_old_one_in_the_search(vault: Vault) -> None:
    from_hash = vault.remember(ContactIdentity(e164=PHONE, profile_name="Bia Castro"))

    vault.remember(ContactIdentity(e164=PHONE, profile_name="Beatriz Castro"))

    assert vault.contacts_named("bia", 10) == []
    assert vault.contacts_named("beatriz", 10) == vault.contacts_named("castro", 10) == [from_hash]


def test_a_forgotten_contact_is_found_by_no_name(backend: Backend, vault: Vault) -> None:
    from_hash = vault.remember(ContactIdentity(e164=PHONE, profile_name="Joana Prado"))
    kept = vault.remember(ContactIdentity(e164=OTHER_PHONE, profile_name="Joana Reis"))

    vault.forget(from_hash)

    assert vault.contacts_named("joana", 10) == [kept]
    assert vault.contacts_named("prado", 10) == []
    assert from_hash.encode() not in stored(backend)


def test_names_are_indexed_blind(backend: Backend, vault: Vault) -> None:
    vault.remember(ContactIdentity(e164=PHONE, profile_name="Genoveva Albuquerque"))

    everything = stored(backend).lower()

    assert b"genoveva" not in everything
    assert b"albuquerque" not in everything
    assert b"albuq" not in everything


# -- nothing in clear --------------------------------------------------------------


def test_no_number_is_ever_stored_in_clear(backend: Backend, vault: Vault) -> None:
    numbers = [PHONE, OTHER_PHONE, "+14155552671"]
    remember_under_older_key(backend, numbers[:1])
    for number in numbers:
        vault.remember(ContactIdentity(e164=number))
    vault.rotate()
    vault.forget(vault.contact_hash(OTHER_PHONE))

    everything = stored(backend)

    assert everything
    assert not [number for number in numbers if in_clear(number, everything)]


# -- sealed for one contact ------------------------------------------------------------


def test_text_sealed_for_a_contact_opens_for_them_alone(backend: Backend, vault: Vault) -> None:
    text = "Ligue para +55 11 98888-7777 amanhã".encode()
    mine = vault.remember(ContactIdentity(e164=PHONE))
    theirs = vault.remember(ContactIdentity(e164="+5511999990002"))

    sealed = vault.seal_for(mine, text)

    assert sealed is not None
    assert text not in sealed
    assert vault.unseal_for(mine, sealed) == text
    assert vault.seal_for(mine, text) != sealed
    identity = vault.reveal(mine)
    assert identity is not None
    assert identity.sealing_key is not None
    assert identity.sealing_key.encode() not in stored(backend)
    with pytest.raises(SealBroken):
        vault.unseal_for(theirs, sealed)


def test_the_sealing_key_is_made_once_and_kept(vault: Vault) -> None:
    from_hash = vault.remember(ContactIdentity(e164=PHONE, profile_name="Ana"))
    first = vault.seal_for(from_hash, b"one")
    assert first is not None

    vault.remember(ContactIdentity(e164=PHONE, bsuid="BR.1502576394655843", profile_name="Ana B"))
    vault.rotate()

    assert vault.unseal_for(from_hash, first) == b"one"
    identity = vault.reveal(from_hash)
    assert identity is not None
    assert identity.profile_name == "Ana B"


def test_forgetting_a_contact_makes_what_was_sealed_for_them_unreadable(vault: Vault) -> None:
    from_hash = vault.remember(ContactIdentity(e164=PHONE))
    sealed = vault.seal_for(from_hash, b"a message")
    assert sealed is not None

    vault.forget(from_hash)
    assert vault.unseal_for(from_hash, sealed) is None
    again = vault.remember(ContactIdentity(e164=PHONE))

    assert again == from_hash
    with pytest.raises(SealBroken):
        vault.unseal_for(from_hash, sealed)


def test_nothing_is_sealed_for_an_unknown_contact(vault: Vault) -> None:
    assert vault.seal_for(vault.contact_hash(PHONE), b"text") is None


def test_any_altered_byte_breaks_what_was_sealed_for_a_contact(vault: Vault) -> None:
    from_hash = vault.remember(ContactIdentity(e164=PHONE))
    sealed = vault.seal_for(from_hash, b"raw")
    assert sealed is not None

    for position in range(len(sealed)):
        altered = bytearray(sealed)
        altered[position] ^= 0x01
        with pytest.raises(SealBroken):
            vault.unseal_for(from_hash, bytes(altered))
    with pytest.raises(SealBroken):
        vault.unseal_for(from_hash, sealed[:10])
