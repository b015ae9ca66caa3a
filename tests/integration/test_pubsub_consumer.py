"""The Pub/Sub consumer outlives its streaming pull: the client ends a stream for good
on errors it deems final (`NotFound`, or a `Cancelled` the emulator sends under load),
and a worker whose stream ended must not go deaf."""

from __future__ import annotations

import threading
import uuid

import pytest
from google.cloud.pubsub_v1 import SubscriberClient
from structlog.testing import capture_logs

from contracts.envelope import EventEnvelope
from tests.backends import Backend
from tests.contract.test_bus import envelope, eventually, names
from tests.emulators import Emulators

pytestmark = pytest.mark.gcp


def test_a_consumer_whose_stream_ended_opens_it_again(emulators: Emulators) -> None:
    backend = Backend(
        "gcp",
        pubsub_host=emulators.pubsub_host,
        firestore_host=emulators.firestore_host,
        project=f"reopen-{uuid.uuid4().hex[:8]}",
    )
    bus = backend.bus()
    topic, subscription = names()
    bus.declare(topic, subscription)
    received: list[EventEnvelope] = []
    lock = threading.Lock()

    def handle(message: EventEnvelope) -> None:
        with lock:
            received.append(message)

    with capture_logs() as logs:
        consumer = bus.subscribe(subscription, handle)
        bus.publish(topic, [envelope(1)])
        eventually(lambda: len(received) == 1)
        admin = SubscriberClient()
        try:
            admin.delete_subscription(
                subscription=admin.subscription_path(backend.project, subscription)
            )
        finally:
            admin.close()
        eventually(lambda: any(e["event"] == "consumer_stream_failed" for e in logs))
        bus.declare(topic, subscription)
        bus.publish(topic, [envelope(2)])
        eventually(lambda: len(received) == 2)
        consumer.stop()
        bus.close()
    assert [m.payload["n"] for m in received] == [1, 2]
    assert any(e["event"] == "consumer_stream_reopened" for e in logs)
