"""Starting the workers: each consumes its subscription on the bus, in this process.

`switchboard serve` runs them all beside the HTTP ingress; `switchboard worker NAME`
runs one kind alone, so that on gcp each scales out on its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

import structlog

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

log = structlog.get_logger(__name__)

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
    """The live projector on the `events` topic, and its healing of lost last events
    every `HEAL_INTERVAL_S`."""
    declare_all(bus)
    projector = Projector(store, snapshots)
    handler = instrumented_handler(PROJECTOR_SUBSCRIPTION, projector.handle)
    consumer = bus.subscribe(PROJECTOR_SUBSCRIPTION, projection_lag(handler), PROJECTOR_IN_FLIGHT)
    return _Healing(consumer, projector)


HEAL_INTERVAL_S = 5.0


class _Healing:
    """A projector's consumer, and the thread that calls `Projector.heal` until it stops."""

    def __init__(self, consumer: Consumer, projector: Projector) -> None:
        self._consumer = consumer
        self._projector = projector
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="projector-heal", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(HEAL_INTERVAL_S):
            try:
                self._projector.heal()
            except Exception:  # a back end briefly away: the next round tries again
                log.exception("projection_heal_failed")

    def stop(self, timeout: float = 30.0) -> None:
        self._stopped.set()
        self._consumer.stop(timeout)
        self._thread.join(timeout)


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
