"""One `Bus.subscribe`: a streaming pull whose messages run the handler on a pool of
`max_in_flight` threads, acked only once the handler returned."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import structlog
from google.cloud.pubsub_v1 import SubscriberClient, types
from google.cloud.pubsub_v1.subscriber.futures import StreamingPullFuture
from google.cloud.pubsub_v1.subscriber.message import Message
from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler
from structlog.typing import FilteringBoundLogger

from adapters.pubsub.admin import DeadLetterRoute
from adapters.pubsub.codec import NOT_AN_ENVELOPE, dead_letter_copy, decode
from adapters.pubsub.publishing import DurablePublisher
from contracts.ports.bus import Handler

log = structlog.get_logger(__name__)

MAX_LEASE_S = 3600
"""How long the client extends the lease of a message whose handler still runs (its
default, set here so the SQLite bus can promise the same): a handler running longer
may see its message delivered again meanwhile."""
REOPEN_FIRST_S = 0.5
REOPEN_MAX_S = 30.0
"""Pauses before opening a failed stream again: doubling from the first to the max."""


class DeadLetterForwarder:
    """Dead-letters a message on its last attempt from here, with the handler's error,
    instead of leaving it to the subscription's dead-letter policy, which cannot know
    the error. The policy remains the safety net for what never reaches this code: a
    handler that hangs or kills its process, or a forward that fails."""

    def __init__(
        self, publisher: DurablePublisher, subscription: str, route: DeadLetterRoute
    ) -> None:
        self._publisher = publisher
        self._subscription = subscription
        self._route = route

    def last_attempt(self, message: Message) -> int | None:
        """The message's delivery attempt if it is the last one allowed, else None.

        `delivery_attempt` is None when the subscription has no dead-letter policy or
        the server did not count; then only the policy can decide."""
        attempt: int | None = message.delivery_attempt
        if attempt is None or attempt < self._route.max_delivery_attempts:
            return None
        return attempt

    def forward(self, message: Message, attempts: int, error: str) -> None:
        copy = dead_letter_copy(message, self._subscription, attempts, error)
        self._publisher.publish(self._route.topic_path, [copy])


class PubSubConsumer:
    def __init__(
        self,
        subscriber: SubscriberClient,
        subscription: str,
        subscription_path: str,
        handler: Handler,
        *,
        max_in_flight: int,
        ack_deadline_s: int,
        forwarder: DeadLetterForwarder | None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight}")
        self._subscription = subscription
        self._handler = handler
        self._forwarder = forwarder
        self._subscriber = subscriber
        self._subscription_path = subscription_path
        self._max_in_flight = max_in_flight
        self._flow_control = types.FlowControl(
            max_messages=max_in_flight,
            # Leases are extended by exactly one ack deadline, so a consumer that dies
            # (kill -9) releases its messages within `ack_deadline_s`, not the
            # client's default of up to 60 s or more. The client also makes the max the
            # stream's ack deadline: a message delivered while this consumer is over
            # `max_messages` and not reading expires after `ack_deadline_s` unread.
            min_duration_per_lease_extension=ack_deadline_s,
            max_duration_per_lease_extension=ack_deadline_s,
            max_lease_duration=MAX_LEASE_S,
        )
        self._lock = threading.Lock()
        self._stopping = False
        self._failures = 0
        self._reopening: threading.Timer | None = None
        self._stream = self._open()

    def _open(self) -> StreamingPullFuture:
        # As many threads as messages in flight: none waits in the pool's queue, where
        # shutting down would nack it without the handler ever seeing it. A new pool
        # per stream: closing a stream shuts its pool down.
        executor = ThreadPoolExecutor(
            self._max_in_flight, thread_name_prefix=f"pubsub-{self._subscription}"
        )
        stream = self._subscriber.subscribe(
            self._subscription_path,
            callback=self._on_message,
            flow_control=self._flow_control,
            scheduler=ThreadScheduler(executor),
            await_callbacks_on_shutdown=True,
        )
        stream.add_done_callback(self._on_stream_done)
        return stream

    @property
    def running(self) -> bool:
        with self._lock:
            return not self._stopping

    def stop(self, timeout: float = 30.0) -> None:
        """Received messages that no handler started are nacked by the client; the
        handlers in flight finish and ack; what is still running after `timeout` keeps
        its lease until it finishes, in the background."""
        with self._lock:
            self._stopping = True
            if self._reopening is not None:
                self._reopening.cancel()
            stream = self._stream
        stream.cancel()
        done, _ = wait([stream], timeout=timeout)
        if done:
            log.info("consumer_stopped", subscription=self._subscription)
        else:
            log.warning(
                "consumer_stop_timed_out", subscription=self._subscription, timeout_s=timeout
            )

    def _on_message(self, message: Message) -> None:
        self._failures = 0
        bound = log.bind(
            subscription=self._subscription,
            message_id=message.message_id,
            delivery_attempt=message.delivery_attempt,
        )
        envelope = decode(message.data)
        if envelope is None:
            bound.warning("message_undecodable")
            self._failed(message, NOT_AN_ENVELOPE, bound)
            return
        bound = bound.bind(event_id=envelope.event_id, correlation_id=envelope.correlation_id)
        try:
            self._handler(envelope)
        except Exception as error:  # any handler failure means "deliver it again"
            bound.warning("handler_failed", error=type(error).__name__)
            self._failed(message, f"{type(error).__name__}: {error}", bound)
            return
        message.ack()

    def _failed(self, message: Message, error: str, bound: FilteringBoundLogger) -> None:
        last = None if self._forwarder is None else self._forwarder.last_attempt(message)
        if self._forwarder is None or last is None:
            message.nack()
            return
        try:
            self._forwarder.forward(message, last, error)
        except Exception as forward_error:  # the dead-letter policy takes over on nack
            bound.error("dead_letter_forward_failed", error=type(forward_error).__name__)
            message.nack()
            return
        message.ack()
        bound.error("message_dead_lettered")

    def _on_stream_done(self, stream: Future[Any]) -> None:
        """A stream that ends without `stop` is opened again, after a growing pause:
        the client gives up on errors it deems final (a `Cancelled` from the server,
        a subscription deleted and recreated), and a worker must not go deaf."""
        if stream.cancelled():
            return
        error = stream.exception()
        with self._lock:
            if self._stopping:
                return
            self._failures += 1
            delay = min(REOPEN_MAX_S, REOPEN_FIRST_S * 2 ** (self._failures - 1))
            self._reopening = threading.Timer(delay, self._reopen)
            self._reopening.daemon = True
            self._reopening.start()
        log.error("consumer_stream_failed", subscription=self._subscription,
                  error=repr(error), reopen_in_s=delay)  # fmt: skip

    def _reopen(self) -> None:
        with self._lock:
            if self._stopping:
                return
            self._stream = self._open()
        log.info("consumer_stream_reopened", subscription=self._subscription)
