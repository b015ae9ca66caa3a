"""The `Bus` port: durable topics with at-least-once, possibly reordered, delivery.

Every adapter passes `tests/contract/test_bus.py` unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from contracts.envelope import EventEnvelope

Handler = Callable[[EventEnvelope], None]
"""Handles one message. Returning acks it; raising makes it come back later."""


class UnknownTopic(LookupError):
    """Publishing to a topic nobody declared: refused rather than dropped, since a
    misspelt topic would otherwise lose every message quietly."""


class UnknownSubscription(LookupError):
    """Subscribing to a subscription nobody declared."""


class SubscriptionConflict(ValueError):
    """The subscription exists on another topic; a subscription cannot move."""


@dataclass(frozen=True)
class DeadLetter:
    """A message that failed `max_delivery_attempts` times, kept for operators.

    `envelope` is None when the data could not be decoded; `data` is then the raw
    bytes as received."""

    subscription: str
    message_id: str
    data: bytes
    envelope: EventEnvelope | None
    delivery_attempts: int
    dead_lettered_at: datetime
    error: str | None


class Consumer(Protocol):
    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking messages, let handlers in flight finish, then return. What is
        not acked by then is delivered again later."""
        ...


class Bus(Protocol):
    def declare(self, topic: str, subscription: str | None = None) -> None:
        """Create the topic and, if named, a subscription to it with its dead-letter
        queue. Idempotent. A subscription receives what is published after it exists."""
        ...

    def publish(self, topic: str, envelopes: Sequence[EventEnvelope]) -> None:
        """Return once every envelope is durably accepted by the bus."""
        ...

    def subscribe(self, subscription: str, handler: Handler, max_in_flight: int = 8) -> Consumer:
        """Deliver the subscription's messages to `handler` on background threads."""
        ...

    def dead_letters(self, subscription: str, limit: int = 100) -> list[DeadLetter]:
        """Messages of the subscription that exhausted their delivery attempts."""
        ...

    def close(self) -> None: ...
