"""Operational metrics (Prometheus, served at `/metrics`), measured at the ports: the
workers and the domain know nothing of them. `app/serve.py` wraps each port in the
instrumented version below."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from contracts.envelope import EventEnvelope, NewEvent
from contracts.ports.bus import Bus, Handler
from contracts.ports.channel import Ambiguous, Channel, Recipient, Refused, SendOutcome
from contracts.ports.eventstore import Appended, Committed, EventPage, EventStore, StreamTransaction
from contracts.ports.responder import Conversation, Draft, Responder, ResponderFailed
from contracts.topics import SUBSCRIPTIONS

T = TypeVar("T")

APPENDED = Counter(
    "switchboard_events_appended_total", "Events appended to the store, by type", ["type"]
)
DUPLICATES = Counter(
    "switchboard_duplicate_appends_total",
    "Appends recognised as already recorded: a redelivered or retried input",
    ["stream_kind"],
)
HANDLED = Counter(
    "switchboard_messages_handled_total",
    "Bus messages handled, by subscription, event type and outcome (ok, failed)",
    ["subscription", "type", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "switchboard_handler_seconds",
    "Time a handler took on one bus message (a reply includes its burst wait)",
    ["subscription"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PROJECTION_LAG = Gauge(
    "switchboard_projection_lag_seconds",
    "From an event's recording to the projector applying it (last event seen)",
)
LLM_SECONDS = Histogram(
    "switchboard_llm_seconds", "Responder calls, by responder and outcome", ["responder", "outcome"]
)
GRAPH_SECONDS = Histogram(
    "switchboard_channel_seconds",
    "Channel sends (WhatsApp Graph API or sandbox), by outcome and error code",
    ["outcome", "code"],
)


def instrumented_handler(subscription: str, handler: Handler) -> Handler:
    def handle(envelope: EventEnvelope) -> None:
        started = time.perf_counter()
        outcome = "failed"
        try:
            handler(envelope)
            outcome = "ok"
        finally:
            HANDLER_SECONDS.labels(subscription).observe(time.perf_counter() - started)
            HANDLED.labels(subscription, envelope.type, outcome).inc()

    return handle


def projection_lag(handler: Handler) -> Handler:
    def handle(envelope: EventEnvelope) -> None:
        handler(envelope)
        lag = (datetime.now(UTC) - envelope.recorded_at).total_seconds()
        PROJECTION_LAG.set(max(lag, 0.0))

    return handle


def _count(appended: Sequence[Appended]) -> None:
    for each in appended:
        if each.duplicate:
            DUPLICATES.labels(each.stream_id.split("-", 1)[0]).inc()
            continue
        for envelope in each.events:
            APPENDED.labels(envelope.type).inc()


class InstrumentedStore:
    """An `EventStore` that counts what it appends."""

    def __init__(self, store: EventStore) -> None:
        self._store = store

    def append(self, stream_id: str, events: Sequence[NewEvent], expected_version: int) -> Appended:
        appended = self._store.append(stream_id, events, expected_version)
        _count([appended])
        return appended

    def transact(self, fn: Callable[[StreamTransaction], T], attempts: int = 5) -> Committed[T]:
        committed = self._store.transact(fn, attempts)
        _count(committed.appended)
        return committed

    def read(self, stream_id: str, from_version: int = 1) -> list[EventEnvelope]:
        return self._store.read(stream_id, from_version)

    def version(self, stream_id: str) -> int:
        return self._store.version(stream_id)

    def count(self) -> int:
        return self._store.count()

    def read_all(self, cursor: str | None = None, limit: int = 1000) -> EventPage:
        return self._store.read_all(cursor, limit)

    def close(self) -> None:
        self._store.close()


class InstrumentedResponder:
    def __init__(self, responder: Responder) -> None:
        self._responder = responder

    @property
    def name(self) -> str:
        return self._responder.name

    def draft(self, conversation: Conversation) -> Draft:
        started = time.perf_counter()
        outcome = "failed"
        try:
            draft = self._responder.draft(conversation)
            outcome = "ok"
            return draft
        except ResponderFailed:
            raise
        finally:
            LLM_SECONDS.labels(self.name, outcome).observe(time.perf_counter() - started)


class InstrumentedChannel:
    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    def send_text(self, business_number_id: str, to: Recipient, text: str) -> SendOutcome:
        started = time.perf_counter()
        outcome = self._channel.send_text(business_number_id, to, text)
        code = str(outcome.error_code or "") if isinstance(outcome, Refused) else ""
        kind = "ambiguous" if isinstance(outcome, Ambiguous) else type(outcome).__name__.lower()
        GRAPH_SECONDS.labels(kind, code).observe(time.perf_counter() - started)
        return outcome


class DeadLetters(Collector):
    """How many messages each subscription dead-lettered, read from the bus at scrape
    time (at most the first 1,000 are counted)."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    def collect(self) -> Iterator[Any]:
        family = GaugeMetricFamily(
            "switchboard_dead_letters", "Messages a worker gave up on, per subscription",
            labels=["subscription"],
        )  # fmt: skip
        for subscription in SUBSCRIPTIONS:
            try:
                count = len(self._bus.dead_letters(subscription, limit=1000))
            except Exception:  # a scrape must not fail because the bus is away
                continue
            family.add_metric([subscription], count)
        yield family


def watch_dead_letters(bus: Bus) -> Callable[[], None]:
    """Register the collector; returns a function that unregisters it."""
    collector = DeadLetters(bus)
    REGISTRY.register(collector)
    return lambda: REGISTRY.unregister(collector)
