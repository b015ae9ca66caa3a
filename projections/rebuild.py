"""Rebuilding projections from the events: into fresh collections, while the current
ones keep serving, then switching every read to the new ones at once.

    begin_rebuild ─▶ replay every event (pages, stream by stream) ─▶ activate

The live projector writes every new event to the generation being rebuilt as well as
to the active one, and both writers go through the same positions, so events that
arrive during the replay are neither lost nor applied twice. Memory stays flat: the
store is read a page at a time and each stream's fold state lives with its position in
the snapshot store, not here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

import structlog

from contracts.envelope import EventEnvelope
from contracts.ports.eventstore import EventStore
from contracts.ports.snapshots import Position, PositionMoved, SnapshotStore
from projections.projection import Projection, Recorded, parsed
from projections.projector import ATTEMPTS, CHUNK, GENERATIONS_TTL_S, utc_now

log = structlog.get_logger(__name__)

PAGE = 1000

Progress = Callable[[int, int], None]
"""Called with (events replayed, events in the store) after each page."""


@dataclass(frozen=True)
class Rebuilt:
    generations: dict[str, int]
    events: int


def rebuild(
    store: EventStore,
    snapshots: SnapshotStore,
    projections: Sequence[Projection],
    progress: Progress | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Rebuilt:
    """Replay every event into a new generation of each of `projections`, then make
    those generations the ones reads use."""
    generations = {p.name: snapshots.begin_rebuild(p.name) for p in projections}
    log.info("rebuild_started", generations=generations)
    time.sleep(2 * GENERATIONS_TTL_S)  # every live projector now writes to both
    total, done = store.count(), 0
    for page in _pages(store):
        for stream_id, grouped in groupby(page, key=lambda event: event.stream_id):
            events = parsed(grouped)
            for projection in projections:
                if projection.handles(stream_id):
                    generation = generations[projection.name]
                    _replay(snapshots, projection, generation, stream_id, events, clock)
        done += len(page)
        if progress is not None:
            progress(done, max(total, done))
    for name, generation in generations.items():
        snapshots.activate(name, generation)
    log.info("rebuild_finished", generations=generations, events=done)
    return Rebuilt(generations, done)


def _pages(store: EventStore) -> Iterator[tuple[EventEnvelope, ...]]:
    cursor: str | None = None
    while True:
        page = store.read_all(cursor, limit=PAGE)
        if page.events:
            yield page.events
        if page.cursor is None:
            return
        cursor = page.cursor


def _replay(
    snapshots: SnapshotStore,
    projection: Projection,
    generation: int,
    stream_id: str,
    events: list[Recorded],
    clock: Callable[[], datetime],
) -> None:
    """Apply `events` (consecutive versions of one stream) past the position, in chunks;
    the live projector may be ahead on the same stream, and then this skips what it
    applied."""
    for _ in range(ATTEMPTS):
        position = snapshots.position(projection.name, generation, stream_id)
        at = position.version if position else 0
        pending = [event for event in events if event.envelope.version > at]
        if not pending:
            return
        state = position.state if position else {}
        try:
            for start in range(0, len(pending), CHUNK):
                chunk = pending[start : start + CHUNK]
                state, writes = projection.fold(state, chunk, clock())
                after = Position(chunk[-1].envelope.version, state)
                snapshots.commit(projection.name, generation, stream_id, at, after, writes)
                at = after.version
        except PositionMoved:
            continue
        return
    raise PositionMoved(f"rebuild of {projection.name} could not settle on {stream_id}")
