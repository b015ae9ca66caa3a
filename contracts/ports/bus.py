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
"""Handles one message. Returning acks it; raising makes it come back later.

A handler may take longer than the ack deadline: while it runs, its consumer extends
the message's lease by one ack deadline at a time, for at most an hour. Past that, or
if the consumer's process dies, the lease runs out and the message is delivered
again, possibly while the first handler still runs."""


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
        """Stop taking messages and wait up to `timeout` seconds for the handlers in
        flight to finish. Handlers still running then go on in the background, their
        leases still extended, and ack or nack when they finish. What is not acked is
        delivered again later. Stopping a stopped consumer waits for its handlers
        again."""
        ...


class Bus(Protocol):
    def declare(self, topic: str, subscription: str | None = None) -> None:
        """Create the topic and, if named, a subscription to it with its dead-letter
        queue. Idempotent. A subscription receives what is published after it exists."""
        ...

    def publish(self, topic: str, envelopes: Sequence[EventEnvelope]) -> None:
        """Return once every envelope is durably accepted by the bus. An empty batch
        returns at once, whether or not the topic was declared: nothing can be lost."""
        ...

    def subscribe(self, subscription: str, handler: Handler, max_in_flight: int = 8) -> Consumer:
        """Deliver the subscription's messages to `handler` on background threads."""
        ...

    def dead_letters(self, subscription: str, limit: int = 100) -> list[DeadLetter]:
        """Messages of the subscription that exhausted their delivery attempts."""
        ...

    def close(self) -> None:
        """Stop the consumers still running, each as `Consumer.stop()` does (up to 30 s
        for its handlers), then release the back end. Idempotent. A handler that
        finishes after `close` cannot ack: its message is delivered again once its
        lease runs out."""
        ...
