"""What travels on Pub/Sub: the envelope as JSON in `data`, a few ids as attributes
(for filters and for tracing without reading the body), and on a dead letter the
attributes that say where, when and why it died."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from google.cloud.pubsub_v1.subscriber.message import Message
from google.pubsub_v1 import PubsubMessage

from contracts.envelope import EventEnvelope
from contracts.ports.bus import DeadLetter

NOT_AN_ENVELOPE = "message data is not an event envelope"

# Set by this adapter when it dead-letters a message itself (it knows the error).
SOURCE_SUBSCRIPTION = "dead_letter_source_subscription"
SOURCE_MESSAGE_ID = "dead_letter_source_message_id"
DELIVERY_ATTEMPTS = "dead_letter_delivery_attempts"
ERROR = "dead_letter_error"

# Set by Pub/Sub when its dead-letter policy forwards a message.
PUBSUB_DELIVERY_COUNT = "CloudPubSubDeadLetterSourceDeliveryCount"

_MAX_ATTRIBUTE_BYTES = 1024


@dataclass(frozen=True)
class OutgoingMessage:
    data: bytes
    attributes: Mapping[str, str] = field(default_factory=dict)


def encode(envelope: EventEnvelope) -> OutgoingMessage:
    attributes = {
        "type": envelope.type,
        "stream_id": envelope.stream_id,
        "event_id": envelope.event_id,
        "correlation_id": envelope.correlation_id,
    }
    return OutgoingMessage(
        envelope.to_json(),
        {key: value for key, value in attributes.items() if _fits(value)},
    )


def decode(data: bytes) -> EventEnvelope | None:
    try:
        return EventEnvelope.from_json(data)
    except ValueError:  # not JSON, or not an envelope
        return None


def dead_letter_copy(
    message: Message, subscription: str, delivery_attempts: int, error: str
) -> OutgoingMessage:
    """The message as this adapter forwards it to the dead-letter topic."""
    return OutgoingMessage(
        message.data,
        {
            **message.attributes,
            SOURCE_SUBSCRIPTION: subscription,
            SOURCE_MESSAGE_ID: message.message_id,
            DELIVERY_ATTEMPTS: str(delivery_attempts),
            ERROR: _truncate(error),
        },
    )


def read_dead_letter(subscription: str, message: PubsubMessage) -> DeadLetter:
    """A dead letter as operators see it, whoever forwarded it. One forwarded by
    Pub/Sub carries no error and only the dead-letter copy's own message id."""
    attributes = message.attributes
    attempts = attributes.get(DELIVERY_ATTEMPTS) or attributes.get(PUBSUB_DELIVERY_COUNT)
    published: datetime = message.publish_time
    return DeadLetter(
        subscription=subscription,
        message_id=attributes.get(SOURCE_MESSAGE_ID) or message.message_id,
        data=message.data,
        envelope=decode(message.data),
        delivery_attempts=int(attempts) if attempts else 0,
        dead_lettered_at=published,
        error=attributes.get(ERROR),
    )


def _fits(value: str) -> bool:
    return len(value.encode()) <= _MAX_ATTRIBUTE_BYTES


def _truncate(text: str) -> str:
    """Attribute values are limited to 1024 bytes; cut on a character boundary."""
    return text.encode()[:_MAX_ATTRIBUTE_BYTES].decode(errors="ignore")
