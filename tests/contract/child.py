"""A child process for crash tests: it opens the back end described on the command
line and works until the test kills it with SIGKILL.

    python -m tests.contract.child BACKEND_JSON append
        appends one event per call to `session-crash`, printing each acknowledged id
    python -m tests.contract.child BACKEND_JSON consume SUBSCRIPTION
        consumes and never acks; prints each received event id
"""

from __future__ import annotations

import sys
import threading
import uuid
from datetime import UTC, datetime

from app.logging import configure_logging
from app.settings import LogFormat
from contracts.envelope import Actor, EventEnvelope, NewEvent
from tests.backends import Backend


def append_forever(backend: Backend) -> None:
    store = backend.event_store()
    version = store.version("session-crash")
    while True:
        event = NewEvent(
            event_id=str(uuid.uuid4()),
            type="TestHappened",
            schema_version=1,
            occurred_at=datetime.now(UTC),
            correlation_id="crash",
            actor=Actor.SYSTEM,
            payload={"version": version + 1},
        )
        version = store.append("session-crash", [event], expected_version=version).last_version
        print(event.event_id, flush=True)


def consume_without_acking(backend: Backend, subscription: str) -> None:
    bus = backend.bus()
    never = threading.Event()

    def hold(envelope: EventEnvelope) -> None:
        print(envelope.event_id, flush=True)
        never.wait()

    bus.subscribe(subscription, hold)
    never.wait()


if __name__ == "__main__":
    configure_logging(LogFormat.JSON)  # stderr: stdout is how the child talks to the test
    chosen = Backend.from_json(sys.argv[1])
    if sys.argv[2] == "append":
        append_forever(chosen)
    else:
        consume_without_acking(chosen, sys.argv[3])
