"""The one place that wires ports to adapters, chosen by `SWITCHBOARD_BACKEND`."""

from __future__ import annotations

from app.settings import Backend, Settings
from contracts.ports.bus import Bus
from contracts.ports.eventstore import EventStore

TOPICS = ("inbound", "commands", "events")


def open_event_store(settings: Settings) -> EventStore:
    if settings.backend is Backend.EMBEDDED:
        from adapters.sqlite.eventstore import SqliteEventStore

        return SqliteEventStore(settings.sqlite_path)
    from google.cloud import firestore

    from adapters.firestore.eventstore import FirestoreEventStore

    return FirestoreEventStore(firestore.Client(project=settings.gcp_project))


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
