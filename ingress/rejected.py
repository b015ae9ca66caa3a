"""Keep a signed body the webhook could not read, for operators: sealed, never in clear."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

from contracts.envelope import Actor, NewEvent, derived_event_id
from contracts.events.webhook import WebhookPayloadRejected
from contracts.ports.bus import Bus
from contracts.ports.eventstore import EventStore
from contracts.ports.vault import Vault
from contracts.streams import deadletter_stream
from contracts.topics import EVENTS_TOPIC

MAX_KEPT_BYTES = 256 * 1024
"""Sealed and base64-encoded, this much still fits one stored event on every back end
(a Firestore document holds at most 1 MiB)."""


def keep_rejected(
    store: EventStore, bus: Bus, vault: Vault, body: bytes, reason: str, now: datetime
) -> str:
    """Append `WebhookPayloadRejected` to `deadletter-<digest>`, publish it on the
    `events` topic (for the projections), and return its event id.

    The id derives from the body's digest: a redelivered body appends nothing, and
    publishes again what was appended."""
    digest = hashlib.sha256(body).hexdigest()
    kept = body[:MAX_KEPT_BYTES]
    event = WebhookPayloadRejected(
        reason=reason,
        body_sha256=digest,
        size_bytes=len(body),
        sealed_body=base64.b64encode(vault.seal(kept)).decode("ascii"),
        kept_bytes=len(kept),
    )
    event_id = derived_event_id(digest, event.TYPE)
    new = NewEvent.of(
        event, event_id=event_id, occurred_at=now, actor=Actor.SYSTEM, correlation_id=event_id
    )
    appended = store.append(deadletter_stream(digest), [new], expected_version=0)
    bus.publish(EVENTS_TOPIC, appended.events)
    return event_id
