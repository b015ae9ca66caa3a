"""The production `Bus` on Google Cloud Pub/Sub (see docs/pubsub.md).

Each subscription has a dead-letter topic `{subscription}-dead-letter` and a
subscription of the same name on it that retains the dead letters for operators.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from google.api_core import exceptions
from google.cloud.pubsub_v1 import PublisherClient

from adapters.pubsub.admin import Admin, SubscriptionPolicy
from adapters.pubsub.codec import encode
from adapters.pubsub.consumer import DeadLetterForwarder, PubSubConsumer
from adapters.pubsub.dead_letters import list_dead_letters
from adapters.pubsub.naming import ResourceNames
from adapters.pubsub.publishing import DurablePublisher
from adapters.pubsub.subscriber import BoundedStreamSubscriber
from contracts.envelope import EventEnvelope
from contracts.ports.bus import DeadLetter, Handler, UnknownTopic


class PubSubBus:
    """Talks to the emulator when `PUBSUB_EMULATOR_HOST` is set, as the Google
    clients do."""

    def __init__(
        self,
        project: str,
        *,
        ack_deadline_s: int = 10,
        max_delivery_attempts: int = 5,
        retry_backoff_s: tuple[float, float] | None = (1.0, 60.0),
    ) -> None:
        self._policy = SubscriptionPolicy(ack_deadline_s, max_delivery_attempts, retry_backoff_s)
        self._names = ResourceNames(project)
        publisher = PublisherClient()
        self._subscriber = BoundedStreamSubscriber()
        self._publisher = DurablePublisher(publisher)
        self._admin = Admin(publisher, self._subscriber, self._names, self._policy)
        self._consumers: list[PubSubConsumer] = []
        self._lock = threading.Lock()
        self._closed = False

    def declare(self, topic: str, subscription: str | None = None) -> None:
        self._admin.declare(topic, subscription)

    def publish(self, topic: str, envelopes: Sequence[EventEnvelope]) -> None:
        if not envelopes:
            return
        try:
            self._publisher.publish(self._names.topic(topic), [encode(e) for e in envelopes])
        except exceptions.NotFound:
            raise UnknownTopic(f"topic {topic!r} does not exist; declare it first") from None

    def subscribe(
        self, subscription: str, handler: Handler, max_in_flight: int = 8
    ) -> PubSubConsumer:
        route = self._admin.dead_letter_route(subscription)
        forwarder = (
            None if route is None else DeadLetterForwarder(self._publisher, subscription, route)
        )
        consumer = PubSubConsumer(
            self._subscriber,
            subscription,
            self._names.subscription(subscription),
            handler,
            max_in_flight=max_in_flight,
            ack_deadline_s=self._policy.ack_deadline_s,
            forwarder=forwarder,
        )
        with self._lock:
            self._consumers = [c for c in self._consumers if c.running] + [consumer]
        return consumer

    def dead_letters(self, subscription: str, limit: int = 100) -> list[DeadLetter]:
        path = self._names.dead_letter_subscription(subscription)
        return list_dead_letters(self._subscriber, path, subscription, limit)

    def close(self) -> None:
        """Stops the consumers still running (their handlers finish), then the
        clients."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            consumers, self._consumers = self._consumers, []
        for consumer in consumers:
            if consumer.running:
                consumer.stop()
        self._publisher.close()
        self._subscriber.close()
