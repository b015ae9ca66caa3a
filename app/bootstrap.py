"""The one place that wires ports to adapters, chosen by `SWITCHBOARD_BACKEND`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from app.dev_secrets import MissingSecret, resolve_secrets
from app.settings import Backend, ResponderKind, Settings
from contracts.ports.bus import Bus
from contracts.ports.channel import Channel
from contracts.ports.eventstore import EventStore
from contracts.ports.operators import OperatorDirectory
from contracts.ports.responder import Responder
from contracts.ports.snapshots import SnapshotStore
from contracts.ports.vault import Vault
from domain.flood import FloodPolicy
from domain.policy import ConversationPolicy
from workers.services import WorkerServices


def open_event_store(settings: Settings) -> EventStore:
    """The store, counting what it appends (`/metrics`)."""
    from app.telemetry import InstrumentedStore

    if settings.backend is Backend.EMBEDDED:
        from adapters.sqlite.eventstore import SqliteEventStore

        return InstrumentedStore(SqliteEventStore(settings.sqlite_path))
    from google.cloud import firestore

    from adapters.firestore.eventstore import FirestoreEventStore

    return InstrumentedStore(FirestoreEventStore(firestore.Client(project=settings.gcp_project)))


def open_snapshots(settings: Settings) -> SnapshotStore:
    from projections.catalogue import OWNERS

    if settings.backend is Backend.EMBEDDED:
        from adapters.sqlite.snapshots import SqliteSnapshotStore

        return SqliteSnapshotStore(settings.sqlite_path, OWNERS)
    from google.cloud import firestore

    from adapters.firestore.snapshots import FirestoreSnapshotStore

    return FirestoreSnapshotStore(firestore.Client(project=settings.gcp_project), OWNERS)


def open_operators(settings: Settings) -> OperatorDirectory:
    if settings.backend is Backend.EMBEDDED:
        from adapters.sqlite.operators import SqliteOperatorDirectory

        return SqliteOperatorDirectory(settings.sqlite_path)
    from google.cloud import firestore

    from adapters.firestore.operators import FirestoreOperatorDirectory

    return FirestoreOperatorDirectory(firestore.Client(project=settings.gcp_project))


def open_bus(settings: Settings) -> Bus:
    if settings.backend is Backend.EMBEDDED:
        from adapters.sqlite.bus import SqliteBus

        return SqliteBus(
            settings.sqlite_path,
            ack_deadline_s=settings.bus_ack_deadline_s,
            max_delivery_attempts=settings.bus_max_delivery_attempts,
        )
    from adapters.pubsub.bus import PubSubBus

    return PubSubBus(
        settings.gcp_project,
        ack_deadline_s=settings.bus_ack_deadline_s,
        max_delivery_attempts=settings.bus_max_delivery_attempts,
    )


def open_vault(settings: Settings) -> Vault:
    from adapters.crypto.hashing import parse_hash_key
    from adapters.crypto.keyring import Keyring

    hash_key_setting, keys_setting = vault_keys(settings)
    hash_key, keyring = parse_hash_key(hash_key_setting), Keyring.parse(keys_setting)
    if settings.backend is Backend.EMBEDDED:
        from adapters.sqlite.vault import SqliteVault

        return SqliteVault(settings.sqlite_path, hash_key, keyring)
    from google.cloud import firestore

    from adapters.firestore.vault import FirestoreVault

    return FirestoreVault(firestore.Client(project=settings.gcp_project), hash_key, keyring)


def vault_keys(settings: Settings) -> tuple[str, str]:
    """The `PII_HASH_KEY` and `PII_ENCRYPTION_KEYS` settings in force. On the embedded
    back end a missing one comes from the development secrets, made on first use; on
    gcp it is an error, since an invented key would hash and encrypt real numbers."""
    hash_key, keys = settings.pii_hash_key, settings.pii_encryption_keys
    if hash_key is not None and keys is not None:
        return hash_key.get_secret_value(), keys.get_secret_value()
    if settings.backend is Backend.GCP:
        configured = {"PII_HASH_KEY": hash_key, "PII_ENCRYPTION_KEYS": keys}
        missing = " and ".join(name for name, value in configured.items() if value is None)
        raise MissingSecret(
            f"the gcp back end needs {missing} in the environment; "
            "`switchboard keys generate` prints fresh ones"
        )
    development = resolve_secrets(settings)
    return development.pii_hash_key, development.pii_encryption_keys


def open_responder(settings: Settings) -> Responder:
    if settings.responder is ResponderKind.RULES:
        from adapters.llm.rules import RulesResponder

        return RulesResponder()
    from adapters.llm.openai import OpenAIResponder

    key = settings.llm_api_key
    return OpenAIResponder(
        base_url=settings.llm_base_url,
        api_key=key.get_secret_value() if key else None,
        model=settings.llm_model,
        timeout_s=settings.llm_timeout_s,
        max_attempts=settings.llm_max_attempts,
    )


def open_channel(settings: Settings) -> Channel:
    """WhatsApp's Graph API when an access token is set; otherwise the sandbox, which
    keeps what would have been sent in `SWITCHBOARD_DATA_DIR/sandbox-outbox.jsonl`."""
    token = settings.whatsapp_access_token
    if token is None:
        if settings.backend is Backend.GCP:
            raise MissingSecret("the gcp back end needs WHATSAPP_ACCESS_TOKEN to send messages")
        from adapters.whatsapp.sandbox import SandboxChannel

        return SandboxChannel(settings.sandbox_outbox_path)
    from adapters.whatsapp.graph import GraphChannel

    return GraphChannel(
        access_token=token.get_secret_value(),
        api_base=settings.whatsapp_api_base,
        api_version=settings.whatsapp_api_version,
    )


def worker_services(
    settings: Settings, store: EventStore, bus: Bus, vault: Vault, snapshots: SnapshotStore
) -> WorkerServices:
    from app.telemetry import InstrumentedChannel, InstrumentedResponder

    return WorkerServices(
        store=store,
        bus=bus,
        vault=vault,
        responder=InstrumentedResponder(open_responder(settings)),
        channel=InstrumentedChannel(open_channel(settings)),
        clock=partial(datetime.now, UTC),
        policy=conversation_policy(settings),
        default_line=settings.whatsapp_phone_number_id,
        snapshots=snapshots,
    )


def conversation_policy(settings: Settings) -> ConversationPolicy:
    flood = FloodPolicy(
        window_seconds=settings.flood_window_s,
        light_score=settings.flood_light_score,
        medium_score=settings.flood_medium_score,
        heavy_score=settings.flood_heavy_score,
    )
    return ConversationPolicy(
        session_ttl=timedelta(hours=settings.session_ttl_hours),
        reply_debounce=timedelta(milliseconds=settings.reply_debounce_ms),
        lead_confidence_threshold=settings.lead_confidence_threshold,
        flood=flood,
        status_link_grace=timedelta(seconds=settings.status_link_grace_s),
    )
