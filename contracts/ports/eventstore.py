"""The `EventStore` port: append-only streams with optimistic concurrency.

Every adapter passes `tests/contract/test_eventstore.py` unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from contracts.envelope import EventEnvelope, NewEvent

T = TypeVar("T")


class ConcurrencyError(Exception):
    """The stream is not at the expected version; nothing was written."""

    def __init__(self, stream_id: str, expected_version: int, actual_version: int | None) -> None:
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        actual = "unknown" if actual_version is None else str(actual_version)
        super().__init__(
            f"stream {stream_id!r} is at version {actual}, not the expected {expected_version}; "
            "re-read the stream and decide again"
        )


class EventIdConflict(Exception):
    """An event id is already recorded for a different event (another stream, or a
    batch that is only partly recorded). Deterministic ids must not collide."""


@dataclass(frozen=True)
class Appended:
    """What one append recorded. When every event id was already in the stream the
    append is a no-op, `duplicate` is true and `events` are the ones recorded before,
    so a redelivered input can re-publish them."""

    stream_id: str
    events: tuple[EventEnvelope, ...]
    duplicate: bool

    @property
    def last_version(self) -> int:
        return self.events[-1].version if self.events else 0


@dataclass(frozen=True)
class EventPage:
    """One page of `read_all`. `cursor` resumes after the last event; None at the end."""

    events: tuple[EventEnvelope, ...]
    cursor: str | None


@dataclass(frozen=True)
class Committed(Generic[T]):
    """The outcome of `EventStore.transact`: the function's result and every append."""

    value: T
    appended: tuple[Appended, ...]


class StreamTransaction(Protocol):
    """The view a transaction function gets: reads see the streams as they will be
    when the transaction commits, or the transaction is retried."""

    def read(self, stream_id: str) -> list[EventEnvelope]:
        """Every event of the stream, in version order; registers it for validation."""
        ...

    def append(self, stream_id: str, events: Sequence[NewEvent], expected_version: int) -> None:
        """Stage an append; checked like `EventStore.append`, written at commit."""
        ...


class EventStore(Protocol):
    def append(self, stream_id: str, events: Sequence[NewEvent], expected_version: int) -> Appended:
        """Append atomically after `expected_version` (0 for a new stream; below 0 is a
        `ValueError`).

        Raises `ConcurrencyError` when the stream is elsewhere, writing nothing. When
        every event id is already in the stream, succeeds without writing."""
        ...

    def read(self, stream_id: str, from_version: int = 1) -> list[EventEnvelope]:
        """The stream's events from `from_version` on, in order, upcast."""
        ...

    def version(self, stream_id: str) -> int:
        """The stream's last version; 0 when it has no events."""
        ...

    def count(self) -> int:
        """How many events the store holds (for progress bars: cheap, not a scan in
        Python)."""
        ...

    def read_all(self, cursor: str | None = None, limit: int = 1000) -> EventPage:
        """Every event, one page at a time, stream by stream: each stream's events are
        in version order; the order of streams is the back end's."""
        ...

    def transact(self, fn: Callable[[StreamTransaction], T], attempts: int = 5) -> Committed[T]:
        """Run `fn` so that its reads and appends commit together or not at all.

        `fn` may run more than once (up to `attempts`, at least 1) when a stream it read
        changes before the commit, so it must not have side effects; it never runs again
        on top of its own commit. A stale `expected_version` raises `ConcurrencyError` at
        once."""
        ...

    def close(self) -> None: ...
