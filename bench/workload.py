"""The work every system in `bench/eventstore.py` is given: the same events, in the
same calls."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts.envelope import Actor, NewEvent, derived_event_id

STREAMS = 200  # cases b and c spread their events over this many streams
BATCH = 100  # events per call in case c
OCCURRED_AT = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Call:
    """One append call: `events` become the versions of `stream` after `after_version`."""

    stream: str
    after_version: int
    events: tuple[NewEvent, ...]


def new_event(case: str, index: int) -> NewEvent:
    """A small inbound-message event: about 130 bytes of JSON payload."""
    input_id = f"bench-{case}-{index}"
    return NewEvent(
        event_id=derived_event_id(input_id, "MessageReceived"),
        type="MessageReceived",
        schema_version=1,
        occurred_at=OCCURRED_AT,
        correlation_id=input_id,
        actor=Actor.USER,
        payload={
            "wa_message_ref": f"{index:064x}",
            "type": "text",
            "body_sanitized": "Hi! Is the blue model still available, and how much is it?",
        },
    )


def one_per_stream(case: str, n: int) -> list[Call]:
    """Cases a and a8: every event is the first of its own stream."""
    return [Call(f"session-{case}{i:07d}", 0, (new_event(case, i),)) for i in range(n)]


def round_robin(case: str, n: int, per_call: int) -> list[Call]:
    """Cases b and c: calls of `per_call` events go to `STREAMS` streams in turn, each at
    its stream's next version."""
    calls = []
    for k in range(math.ceil(n / per_call)):
        lap, stream = divmod(k, STREAMS)
        events = range(k * per_call, min(n, (k + 1) * per_call))
        calls.append(
            Call(
                f"session-{case}{stream:03d}",
                lap * per_call,
                tuple(new_event(case, i) for i in events),
            )
        )
    return calls


WRITE_CASES: dict[str, Callable[[int], list[Call]]] = {
    "a": lambda n: one_per_stream("a", n),
    "b": lambda n: round_robin("b", n, 1),
    "c": lambda n: round_robin("c", n, BATCH),
}
