"""Publishing that returns only once Pub/Sub has accepted every message."""

from __future__ import annotations

from collections.abc import Sequence

from google.cloud.pubsub_v1 import PublisherClient

from adapters.pubsub.codec import OutgoingMessage
from adapters.pubsub.transient import RPC_TIMEOUT_S, retrying

# A future resolves within one RPC deadline plus batching; past this it is lost.
_FUTURE_TIMEOUT_S = RPC_TIMEOUT_S + 10.0


class DurablePublisher:
    """Publishes a batch and waits for every future. Messages that failed for a
    transient reason are published again (only those), so a retry may duplicate a
    message whose acknowledgement was lost: the bus is at-least-once anyway."""

    def __init__(self, client: PublisherClient) -> None:
        self._client = client

    def publish(self, topic_path: str, messages: Sequence[OutgoingMessage]) -> None:
        remaining = list(messages)
        for attempt in retrying("publish"):
            with attempt:
                futures = [
                    self._client.publish(
                        topic_path,
                        message.data,
                        retry=None,
                        timeout=RPC_TIMEOUT_S,
                        **message.attributes,
                    )
                    for message in remaining
                ]
                errors = [future.exception(timeout=_FUTURE_TIMEOUT_S) for future in futures]
                remaining = [m for m, e in zip(remaining, errors, strict=True) if e is not None]
                failure = next((error for error in errors if error is not None), None)
                if failure is not None:
                    raise failure

    def close(self) -> None:
        self._client.stop()
        self._client.transport.close()
