"""Starting the workers: each consumes its subscription on the bus, in this process.

`switchboard serve` runs them all beside the HTTP ingress; `switchboard worker NAME`
runs one kind alone, so that on gcp each scales out on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from app.telemetry import instrumented_handler, projection_lag
from contracts.envelope import EventEnvelope
from contracts.ports.bus import Bus, Consumer
from contracts.ports.eventstore import EventStore
from contracts.ports.snapshots import SnapshotStore
from contracts.topics import (
    COMMANDS_SUBSCRIPTION,
    CONVERSATION_SUBSCRIPTION,
    PROJECTOR_SUBSCRIPTION,
    SENDER_SUBSCRIPTION,
    SUBSCRIPTIONS,
)
from projections.projector import Projector
from workers.commands import CommandWorker
from workers.conversation import ConversationWorker
from workers.sender import OutboundSender
from workers.services import WorkerServices

PROJECTOR_IN_FLIGHT = 32
"""Events the live projector handles at once. Its handlers mostly wait on the snapshot
store; with 8, a burst on `events` queued up in the consumer, and on the Pub/Sub
emulator (which ignores flow control) deliveries held there expired unread and some
were never delivered again (docs/pubsub.md, "The emulator")."""


class WorkerKind(StrEnum):
    CONVERSATION = "conversation"
    COMMANDS = "commands"
    SENDER = "sender"


@dataclass(frozen=True)
class _Spec:
    subscription: str
    make: Callable[[WorkerServices], Callable[[EventEnvelope], None]]
    max_in_flight: Callable[[int], int]
    """From the configured concurrency, for the conversation worker's sake: each of its
    messages may wait out a burst and a responder call."""


_SPECS = {
    WorkerKind.CONVERSATION: _Spec(
        CONVERSATION_SUBSCRIPTION, lambda s: ConversationWorker(s).handle, lambda n: n
    ),
    WorkerKind.COMMANDS: _Spec(
        COMMANDS_SUBSCRIPTION, lambda s: CommandWorker(s).handle, lambda _: 4
    ),
    WorkerKind.SENDER: _Spec(
        SENDER_SUBSCRIPTION, lambda s: OutboundSender(s).handle, lambda n: max(4, n // 8)
    ),
}


def declare_all(bus: Bus) -> None:
    for subscription, topic in SUBSCRIPTIONS.items():
        bus.declare(topic, subscription)


def start_projector(store: EventStore, bus: Bus, snapshots: SnapshotStore) -> Consumer:
    """The live projector on the `events` topic."""
    declare_all(bus)
    handler = instrumented_handler(PROJECTOR_SUBSCRIPTION, Projector(store, snapshots).handle)
    return bus.subscribe(PROJECTOR_SUBSCRIPTION, projection_lag(handler), PROJECTOR_IN_FLIGHT)


def start_workers(
    services: WorkerServices, kinds: Iterable[WorkerKind] = WorkerKind, concurrency: int = 128
) -> list[Consumer]:
    """Declare every topic and subscription, then consume those of `kinds`."""
    declare_all(services.bus)
    consumers = []
    for kind in kinds:
        spec = _SPECS[kind]
        handler = instrumented_handler(spec.subscription, spec.make(services))
        consumers.append(
            services.bus.subscribe(spec.subscription, handler, spec.max_in_flight(concurrency))
        )
    return consumers
