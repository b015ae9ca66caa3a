"""What tests/e2e/test_read_api.py drives: the whole system served over HTTP (workers,
live projector and ingress on one back end), faults made on purpose (a projector
commit held back, documents written as a busy day leaves them, a slow dead-letter
listing), a server-sent events reader with what to ask of its events, and the
Prometheus text parsed into samples."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from adapters.llm.rules import RulesResponder
from adapters.whatsapp.sandbox import SandboxChannel
from app.telemetry import InstrumentedStore
from contracts.envelope import EventEnvelope
from contracts.operators import Role
from contracts.ports.bus import Bus, Consumer, DeadLetter, Handler
from contracts.ports.snapshots import Commit, Position, Put, SnapshotStore, Write
from domain.policy import ConversationPolicy
from ingress.app import create_app
from ingress.services import IngressServices
from projections.catalogue import OWNERS, PROJECTIONS
from projections.projector import STRIPES
from projections.status import projection_status
from tests.backends import Backend
from tests.e2e.live_server import serving
from tests.pipeline import FAST, Pipeline, eventually, pipeline_on, running

APP_SECRET = b"read-api-app-secret"
Json = dict[str, Any]
Chosen = Callable[[str, str, Sequence[Write]], bool]
"""Picks a commit by projection, stream id and writes."""


def open_snapshots(backend: Backend) -> SnapshotStore:
    if backend.kind == "sqlite":
        from adapters.sqlite.snapshots import SqliteSnapshotStore

        return SqliteSnapshotStore(backend.sqlite_path, OWNERS)
    from google.cloud import firestore

    from adapters.firestore.snapshots import FirestoreSnapshotStore

    return FirestoreSnapshotStore(firestore.Client(project=backend.project), OWNERS)


# --- faults, on purpose ---------------------------------------------------------------


class CommitDelay:
    """The snapshot store as the live projector sees it, able to hold back one commit:
    a slow commit (Firestore contention, a busy SQLite file), made to happen on
    purpose, after the projector stamped the documents' `updated_at`. Reads and
    listeners pass through."""

    def __init__(self, snapshots: SnapshotStore) -> None:
        self._snapshots = snapshots
        self._lock = threading.Lock()
        self._armed: tuple[Chosen, threading.Event, threading.Event] | None = None

    @contextmanager
    def holding(self, chosen: Chosen) -> Iterator[threading.Event]:
        """While inside, the next commit `chosen(projection, stream_id, writes)` accepts
        waits; it is made when the block ends. Yields an event set once it waits."""
        waiting, release = threading.Event(), threading.Event()
        with self._lock:
            self._armed = (chosen, waiting, release)
        try:
            yield waiting
        finally:
            with self._lock:
                self._armed = None
            release.set()

    def commit(
        self,
        projection: str,
        generation: int,
        stream_id: str,
        expected: int,
        position: Position,
        writes: Sequence[Write],
    ) -> None:
        self._wait_if_chosen(projection, [(stream_id, writes)])
        self._snapshots.commit(projection, generation, stream_id, expected, position, writes)

    def commit_many(self, projection: str, generation: int, commits: Sequence[Commit]) -> None:
        self._wait_if_chosen(projection, [(each.stream_id, each.writes) for each in commits])
        self._snapshots.commit_many(projection, generation, commits)

    def _wait_if_chosen(self, projection: str, commits: list[tuple[str, Sequence[Write]]]) -> None:
        with self._lock:
            armed = self._armed
            if armed is None or not any(armed[0](projection, *each) for each in commits):
                return
            self._armed = None
        armed[1].set()
        armed[2].wait(60)

    def __getattr__(self, name: str) -> Any:
        """Everything else (reads, listeners) is the store's."""
        return getattr(self._snapshots, name)


def write_log(snapshots: SnapshotStore, session_id: str, entries: int) -> None:
    """A session's message log of `entries` entries, as the projector writes it (one
    commit): what a day of a busy conversation leaves, without the hour it takes to
    hold it through the emulators."""
    generation = snapshots.generations()["messages"][0]
    now = datetime.now(UTC)
    writes: list[Write] = []
    for seq in range(1, entries + 1):
        entry = {
            "session_id": session_id, "seq": seq, "direction": "IN", "type": "text",
            "body_sanitized": f"mensagem {seq}", "actor": "USER", "status": "RECEIVED",
            "status_history": [], "correlation_id": f"c-{seq}", "created_at": now.isoformat(),
            "updated_at": (now + timedelta(microseconds=seq)).isoformat(),
        }  # fmt: skip
        writes.append(Put("messages", f"{session_id}:{seq:08d}", entry))
    snapshots.commit("messages", generation, f"session-{session_id}", 0, Position(entries), writes)


def same_stripe(one: str, other: str) -> bool:
    """Whether the projector serialises the two streams (it locks by stripe)."""
    return hash(one) % STRIPES == hash(other) % STRIPES


# --- the system, served ------------------------------------------------------------------


@dataclass
class World:
    """The running system, its HTTP server and two operators' tokens."""

    pipeline: Pipeline
    services: IngressServices
    snapshots: SnapshotStore
    """What the API reads (the store itself, not the projector's `CommitDelay`)."""
    projector_snapshots: CommitDelay
    http: httpx.Client
    admin: str
    operator: str
    said: int = 0
    """Customer messages published so far (each appends one MessageReceived)."""
    sessions: dict[str, str] = field(default_factory=dict)
    """Session id by phone, as learned."""

    def get(self, path: str, token: str | None = "", **params: Any) -> httpx.Response:
        """GET as the operator (`token=""`), as someone else, or (None) with no token."""
        token = self.operator if token == "" else token
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return self.http.get(path, params=params, headers=headers)

    def read(self, path: str, **params: Any) -> Any:
        """The JSON of a GET that must succeed."""
        answer = self.get(path, **params)
        assert answer.status_code == 200, (path, answer.status_code, answer.text)
        return answer.json()

    def command(self, body: Json, token: str) -> str:
        """POST a command; its id once decided (applied or not)."""
        headers = {"Authorization": f"Bearer {token}"}
        answer = self.http.post("/api/commands", json=body, headers=headers)
        assert answer.status_code == 202, answer.text
        command_id: str = answer.json()["command_id"]
        self.pipeline.decided(command_id)
        return command_id

    def say(self, text: str, phone: str) -> None:
        self.pipeline.say(text, phone=phone)
        self.said += 1

    def session_of(self, phone: str) -> str:
        if phone not in self.sessions:
            self.sessions[phone] = self.pipeline.session_id(phone)
        return self.sessions[phone]

    def caught_up(self, timeout: float = 30) -> None:
        """Every event recorded is applied by every projection (a walk of the store)."""

        def behind() -> bool:
            found = projection_status(self.pipeline.store, self.snapshots, PROJECTIONS)
            return all(status.behind == 0 for status in found)

        eventually(behind, timeout, "the projector to catch up")

    def until(self, path: str, check: Callable[[Any], bool], timeout: float = 30) -> Any:
        """Poll GET `path` until `check` accepts its JSON; that JSON."""

        def probe() -> Any:
            body = self.read(path)
            return body if check(body) else None

        return eventually(probe, timeout, f"GET {path} to satisfy {check}")

    def everything(self, path: str, **params: Any) -> list[Json]:
        """Every item of a paginated list, following `next_cursor`."""
        items: list[Json] = []
        cursor: str | None = None
        while True:
            page = self.read(path, **params, **({"cursor": cursor} if cursor else {}))
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items


@contextmanager
def serve_world(
    backend: Backend, tmp_path: Path, policy: ConversationPolicy = FAST
) -> Iterator[World]:
    """The whole system on `backend`, as `switchboard serve` wires it: an instrumented
    store, the workers, the live projector and the ingress on a real server. (Not the
    dead-letter gauge: on Pub/Sub every scrape would pull each dead-letter queue.)"""
    channel = SandboxChannel(tmp_path / "outbox.jsonl")
    with pipeline_on(backend, RulesResponder(), channel, policy) as pipeline:
        pipeline.store = InstrumentedStore(pipeline.store)
        snapshots = open_snapshots(pipeline.backend)
        delayed = CommitDelay(snapshots)
        pipeline.snapshots = delayed
        services = IngressServices(
            store=pipeline.store, bus=pipeline.bus, vault=pipeline.vault,
            operators=pipeline.backend.operators(), clock=lambda: datetime.now(UTC),
            whatsapp_verify_token="read-api-verify", whatsapp_app_secret=APP_SECRET,
            snapshots=snapshots,
        )  # fmt: skip
        try:
            with (
                running(pipeline),
                serving(create_app(services)) as base_url,
                httpx.Client(base_url=base_url, timeout=30) as http,
            ):
                admin = services.operators.add("root", Role.ADMIN)
                operator = services.operators.add("ana", Role.OPERATOR)
                yield World(pipeline, services, snapshots, delayed, http, admin, operator)
        finally:
            snapshots.close()


def settled(world: World, session_id: str, entries: int) -> Json:
    """Wait until the session's log has `entries` entries, every reply sent, and its
    summary counts them; that summary."""

    def done(page: Json) -> bool:
        log = page["items"]
        return len(log) == entries and all(m["status"] in ("RECEIVED", "SENT") for m in log)

    log = world.until(f"/api/sessions/{session_id}/messages", done)["items"]
    counts = {"inbound_count": sum(m["direction"] == "IN" for m in log),
              "outbound_count": sum(m["direction"] == "OUT" for m in log)}  # fmt: skip

    def counted(detail: Json) -> bool:
        session: Json = detail["session"]
        return counts.items() <= session.items()

    summary: Json = world.until(f"/api/sessions/{session_id}", counted)["session"]
    return summary


# --- server-sent events -------------------------------------------------------------------


@dataclass(frozen=True)
class Sse:
    id: str | None
    event: str | None
    data: Json

    @property
    def doc_id(self) -> str:
        return str(self.data["id"])


class EventStream:
    """`GET /api/stream`, read line by line on a thread of its own, so that `until`
    waits exactly its timeout. Closing shuts the socket down, which ends the read."""

    def __init__(
        self, http: httpx.Client, token: str, session_id: str | None = None,
        last_event_id: str | None = None,
    ) -> None:  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        params = {"session_id": session_id} if session_id else {}
        self._context = http.stream("GET", "/api/stream", params=params, headers=headers)
        self.response = self._context.__enter__()
        self.received: list[Sse] = []
        self.comments: list[str] = []
        self._arrived: queue.SimpleQueue[Sse | str | None] = queue.SimpleQueue()
        """Events, comments, and None once the read ends."""
        self._reader = threading.Thread(target=self._read, name="sse-reader", daemon=True)
        self._reader.start()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:  # fmt: skip
        stream = self.response.extensions.get("network_stream")
        connection = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(connection, socket.socket):
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._reader.join(10)
        self._context.__exit__(kind, error, traceback)

    def connected(self) -> None:
        """Wait for the server's first comment: it listens for changes from now on."""
        assert self.response.status_code == 200, self.response.status_code
        assert self.response.headers["content-type"].startswith("text/event-stream")
        self.until(lambda _: bool(self.comments), timeout=30)

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            for line in self.response.iter_lines():
                if line.startswith(":"):
                    self._arrived.put(line[1:].strip())
                elif line:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                elif "data" in fields:
                    data = json.loads(fields["data"])
                    self._arrived.put(Sse(fields.get("id"), fields.get("event"), data))
                    fields = {}
        except httpx.HTTPError:
            pass  # closed by __exit__, or the server went away
        finally:
            self._arrived.put(None)

    def until(self, done: Callable[[list[Sse]], bool], timeout: float = 20) -> list[Sse]:
        """Read until `done(everything received)`; everything received."""
        deadline = time.monotonic() + timeout
        while not done(self.received):
            try:
                arrived = self._arrived.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                seen = [(e.event, e.data.get("id")) for e in self.received]
                raise AssertionError(f"after {timeout} s the stream had sent only {seen}") from None
            if arrived is None:
                raise AssertionError("the server ended the stream")
            if isinstance(arrived, Sse):
                self.received.append(arrived)
            else:
                self.comments.append(arrived)
        return self.received


def sent(kind: str, doc_id: str, **fields: Any) -> Callable[[list[Sse]], bool]:
    """Whether the stream sent a `kind` event for the document, with `fields`."""

    def done(events: list[Sse]) -> bool:
        return any(
            e.event == kind and e.doc_id == doc_id and fields.items() <= e.data.items()
            for e in events
        )

    return done


def ordered(events: list[Sse]) -> bool:
    """Event ids strictly increase: each names a position after the one before
    (`updated_at|collection|doc_id`)."""
    positions = []
    for event in events:
        assert event.id is not None, event
        updated_at, collection, doc_id = event.id.split("|")
        positions.append((datetime.fromisoformat(updated_at), collection, doc_id))
    return positions == sorted(set(positions))


def message_doc(entry: Json) -> str:
    """The id of a message log entry's document (`projections.messages.message_id`)."""
    return f"{entry['session_id']}:{entry['seq']:08d}"


def strip(document: Json) -> Json:
    """A streamed document as the read API shows it."""
    return {k: v for k, v in document.items() if k not in ("id", "updated_at")}


def sent_last(events: list[Sse], entry: Json) -> Json | None:
    """The last version of a message log entry the stream sent."""
    versions = [e.data for e in events if e.event == "message" and e.doc_id == message_doc(entry)]
    return strip(versions[-1]) if versions else None


def as_new(streamed: Json | None, summary: Json) -> bool:
    """Whether a streamed session document is the summary's state or a later one."""
    if streamed is None or "updated_at" not in streamed:
        return False
    newer = datetime.fromisoformat(streamed["updated_at"]) >= datetime.fromisoformat(
        summary["updated_at"]
    )
    counts = ("inbound_count", "outbound_count")
    return newer and all(streamed.get(k) == summary[k] for k in counts)


# --- Prometheus ------------------------------------------------------------------------


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass(frozen=True)
class Scrape:
    content_type: str
    text: str
    samples: Samples

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when absent (a counter not incremented yet)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)


def scrape(http: httpx.Client) -> Scrape:
    """`GET /metrics`, following a redirect, parsed."""
    answer = http.get("/metrics", follow_redirects=True)
    assert answer.status_code == 200, answer.text
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return Scrape(answer.headers["content-type"], answer.text, samples)


class SlowDeadLetters:
    """A bus whose dead-letter listing takes `seconds` and finds none, as Pub/Sub's
    does (`PULL_WAIT_S`); everything else is the bus's."""

    def __init__(self, bus: Bus, seconds: float) -> None:
        self._bus = bus
        self._seconds = seconds

    def declare(self, topic: str, subscription: str | None = None) -> None:
        self._bus.declare(topic, subscription)

    def publish(self, topic: str, envelopes: Sequence[EventEnvelope]) -> None:
        self._bus.publish(topic, envelopes)

    def subscribe(self, subscription: str, handler: Handler, max_in_flight: int = 8) -> Consumer:
        return self._bus.subscribe(subscription, handler, max_in_flight)

    def dead_letters(self, subscription: str, limit: int = 100) -> list[DeadLetter]:
        time.sleep(self._seconds)
        return []

    def close(self) -> None:
        self._bus.close()
