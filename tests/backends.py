"""How tests open each back end. A `Backend` is plain data so that a test can hand it
to a child process (`tests/contract/child.py`) that opens the same store or bus."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from contracts.ports.bus import Bus
from contracts.ports.eventstore import EventStore
from contracts.ports.operators import OperatorDirectory
from contracts.ports.vault import Vault

GCP_TEST_PROJECT = "switchboard-test"
VAULT_HASH_KEY = b"switchboard test PII_HASH_KEY, 32+ bytes"
VAULT_KEYS = (
    "k2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,"
    "k1:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
)
"""The vault's test keyring (`PII_ENCRYPTION_KEYS`): k2 encrypts, k1 is an older key."""


@dataclass(frozen=True)
class Backend:
    kind: str  # "sqlite" or "gcp"
    sqlite_path: str = ""
    pubsub_host: str = ""
    firestore_host: str = ""
    project: str = GCP_TEST_PROJECT
    ack_deadline_s: int = 10
    max_delivery_attempts: int = 5
    retry_backoff_s: tuple[float, float] | None = (0.05, 0.2)
    """None (gcp only): subscriptions without a retry policy, redelivering at once."""

    def event_store(self) -> EventStore:
        if self.kind == "sqlite":
            from adapters.sqlite.eventstore import SqliteEventStore

            return SqliteEventStore(self.sqlite_path)
        from google.cloud import firestore

        from adapters.firestore.eventstore import FirestoreEventStore

        os.environ["FIRESTORE_EMULATOR_HOST"] = self.firestore_host
        return FirestoreEventStore(firestore.Client(project=self.project))

    def bus(self) -> Bus:
        if self.kind == "sqlite":
            from adapters.sqlite.bus import SqliteBus

            return SqliteBus(
                self.sqlite_path,
                ack_deadline_s=self.ack_deadline_s,
                max_delivery_attempts=self.max_delivery_attempts,
                retry_backoff_s=(0.05, 0.2),
            )
        from adapters.pubsub.bus import PubSubBus

        os.environ["PUBSUB_EMULATOR_HOST"] = self.pubsub_host
        return PubSubBus(
            self.project,
            ack_deadline_s=self.ack_deadline_s,
            max_delivery_attempts=self.max_delivery_attempts,
            retry_backoff_s=self.retry_backoff_s,
        )

    def operators(self) -> OperatorDirectory:
        if self.kind == "sqlite":
            from adapters.sqlite.operators import SqliteOperatorDirectory

            return SqliteOperatorDirectory(self.sqlite_path)
        from google.cloud import firestore

        from adapters.firestore.operators import FirestoreOperatorDirectory

        os.environ["FIRESTORE_EMULATOR_HOST"] = self.firestore_host
        return FirestoreOperatorDirectory(firestore.Client(project=self.project))

    def vault(self, keys: str = VAULT_KEYS, hash_key: bytes = VAULT_HASH_KEY) -> Vault:
        """A vault on this back end; `keys` is a `PII_ENCRYPTION_KEYS` setting."""
        from adapters.crypto.keyring import Keyring

        keyring = Keyring.parse(keys)
        if self.kind == "sqlite":
            from adapters.sqlite.vault import SqliteVault

            return SqliteVault(self.sqlite_path, hash_key, keyring)
        from google.cloud import firestore

        from adapters.firestore.vault import FirestoreVault

        os.environ["FIRESTORE_EMULATOR_HOST"] = self.firestore_host
        return FirestoreVault(firestore.Client(project=self.project), hash_key, keyring)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Backend:
        fields = json.loads(text)
        if fields.get("retry_backoff_s") is not None:
            fields["retry_backoff_s"] = tuple(fields["retry_backoff_s"])
        return cls(**fields)


def number_in(vault: Vault, from_hash: str) -> str | None:
    """The phone number the vault holds for a contact, if any."""
    identity = vault.reveal(from_hash)
    return identity.e164 if identity else None
