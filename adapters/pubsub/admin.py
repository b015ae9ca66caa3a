"""Topics and subscriptions: created when missing, brought back to the bus's policy
when they drifted, never deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog
from google.api_core import exceptions
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.protobuf import field_mask_pb2
from google.pubsub_v1 import DeadLetterPolicy, ExpirationPolicy, RetryPolicy, Subscription, Topic

from adapters.pubsub.naming import ResourceNames
from adapters.pubsub.transient import RPC_TIMEOUT_S, retrying
from contracts.ports.bus import SubscriptionConflict, UnknownSubscription

log = structlog.get_logger(__name__)

RETENTION = timedelta(days=7)
"""Longest a subscription keeps a message (Pub/Sub's maximum)."""

DEAD_LETTER_TOPIC_RETENTION = timedelta(days=31)
"""Longest a topic keeps messages (Pub/Sub's maximum): a dead letter acked by mistake,
or older than `RETENTION`, can still be recovered by seeking."""

DEAD_LETTER_LEASE_S = 30
"""Ack deadline of a dead-letter subscription: how long a listing holds what it saw."""

# The subscription fields this module owns; anything else an operator set is kept.
_MANAGED_FIELDS = (
    "ack_deadline_seconds",
    "dead_letter_policy",
    "retry_policy",
    "expiration_policy",
    "message_retention_duration",
)


@dataclass(frozen=True)
class SubscriptionPolicy:
    """How every subscription of the bus behaves, checked against Pub/Sub's limits."""

    ack_deadline_s: int
    max_delivery_attempts: int
    retry_backoff_s: tuple[float, float] | None
    """None: no retry policy, Pub/Sub redelivers a failed message at once."""

    def __post_init__(self) -> None:
        low, high = self.retry_backoff_s or (0, 0)
        if not 10 <= self.ack_deadline_s <= 600:
            raise ValueError(
                f"ack_deadline_s must be 10..600 on Pub/Sub, not {self.ack_deadline_s}"
            )
        if not 5 <= self.max_delivery_attempts <= 100:
            raise ValueError(
                f"max_delivery_attempts must be 5..100 on Pub/Sub, not {self.max_delivery_attempts}"
            )
        if not 0 <= low <= high <= 600:
            raise ValueError(
                f"retry_backoff_s must be (min, max) with 0 <= min <= max <= 600, not {low, high}"
            )


@dataclass(frozen=True)
class DeadLetterRoute:
    """Where a subscription's dead letters go, as the subscription itself says."""

    topic_path: str
    max_delivery_attempts: int


class Admin:
    def __init__(
        self,
        publisher: PublisherClient,
        subscriber: SubscriberClient,
        names: ResourceNames,
        policy: SubscriptionPolicy,
    ) -> None:
        self._publisher = publisher
        self._subscriber = subscriber
        self._names = names
        self._policy = policy

    def declare(self, topic: str, subscription: str | None) -> None:
        """The dead-letter topic and its subscription are created before the
        subscription that forwards to them, so no dead letter is ever dropped."""
        self._ensure_topic(Topic(name=self._names.topic(topic)))
        if subscription is None:
            return
        dead_letter_topic = self._names.dead_letter_topic(subscription)
        self._ensure_topic(
            Topic(name=dead_letter_topic, message_retention_duration=DEAD_LETTER_TOPIC_RETENTION)
        )
        self._ensure_subscription(
            Subscription(
                name=self._names.dead_letter_subscription(subscription),
                topic=dead_letter_topic,
                ack_deadline_seconds=DEAD_LETTER_LEASE_S,
                message_retention_duration=RETENTION,
                expiration_policy=ExpirationPolicy(),  # no ttl: never expires
            )
        )
        backoff = self._policy.retry_backoff_s
        retry_policy = None
        if backoff is not None:
            low, high = backoff
            retry_policy = RetryPolicy(
                minimum_backoff=timedelta(seconds=low), maximum_backoff=timedelta(seconds=high)
            )
        self._ensure_subscription(
            Subscription(
                name=self._names.subscription(subscription),
                topic=self._names.topic(topic),
                ack_deadline_seconds=self._policy.ack_deadline_s,
                dead_letter_policy=DeadLetterPolicy(
                    dead_letter_topic=dead_letter_topic,
                    max_delivery_attempts=self._policy.max_delivery_attempts,
                ),
                retry_policy=retry_policy,
                message_retention_duration=RETENTION,
                expiration_policy=ExpirationPolicy(),
            )
        )

    def dead_letter_route(self, subscription: str) -> DeadLetterRoute | None:
        """Read from the subscription rather than assumed, so a subscription changed
        by an operator is honoured."""
        path = self._names.subscription(subscription)
        try:
            existing = self._get_subscription(path)
        except exceptions.NotFound:
            raise UnknownSubscription(
                f"subscription {subscription!r} does not exist; declare it first"
            ) from None
        policy = existing.dead_letter_policy
        if not policy.dead_letter_topic:
            log.warning("subscription_without_dead_letter_policy", subscription=subscription)
            return None
        return DeadLetterRoute(policy.dead_letter_topic, policy.max_delivery_attempts)

    def _ensure_topic(self, topic: Topic) -> None:
        try:
            retrying("create_topic")(
                self._publisher.create_topic, request=topic, retry=None, timeout=RPC_TIMEOUT_S
            )
        except exceptions.AlreadyExists:
            return
        log.info("pubsub_topic_created", topic=topic.name)

    def _ensure_subscription(self, wanted: Subscription) -> None:
        try:
            retrying("create_subscription")(
                self._subscriber.create_subscription,
                request=wanted,
                retry=None,
                timeout=RPC_TIMEOUT_S,
            )
        except exceptions.AlreadyExists:
            self._converge(wanted)
            return
        log.info("pubsub_subscription_created", subscription=wanted.name)

    def _converge(self, wanted: Subscription) -> None:
        existing = self._get_subscription(wanted.name)
        if existing.topic != wanted.topic:
            raise SubscriptionConflict(
                f"subscription {wanted.name!r} already exists on topic {existing.topic!r}, "
                f"not {wanted.topic!r}; choose another subscription name"
            )
        drifted = [f for f in _MANAGED_FIELDS if getattr(existing, f) != getattr(wanted, f)]
        if not drifted:
            return
        retrying("update_subscription")(
            self._subscriber.update_subscription,
            request={
                "subscription": wanted,
                "update_mask": field_mask_pb2.FieldMask(paths=drifted),
            },
            retry=None,
            timeout=RPC_TIMEOUT_S,
        )
        log.info("pubsub_subscription_updated", subscription=wanted.name, fields=drifted)

    def _get_subscription(self, path: str) -> Subscription:
        found: Subscription = retrying("get_subscription")(
            self._subscriber.get_subscription,
            request={"subscription": path},
            retry=None,
            timeout=RPC_TIMEOUT_S,
        )
        return found
