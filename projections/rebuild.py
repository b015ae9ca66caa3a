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
from itertools import groupby

import structlog

from contracts.envelope import EventEnvelope
from contracts.ports.eventstore import EventStore
from contracts.ports.snapshots import Commit, Position, PositionMoved, SnapshotStore
from projections.projection import Projection, Recorded, parsed
from projections.projector import ATTEMPTS, CHUNK, GENERATIONS_TTL_S

log = structlog.get_logger(__name__)

PAGE = 1000
BATCH_WRITES = 450
"""Documents and positions per commit of a rebuild: under Firestore's 500."""

Progress = Callable[[int, int], None]
"""Called with (events replayed, events in the store) after each page."""


@dataclass(frozen=True)
class Rebuilt:
    generations: dict[str, int]
    events: int
    replay_s: float
    """How long the replay itself took (without the wait for live projectors to see
    the new generations, nor the switch)."""


def rebuild(
    store: EventStore,
    snapshots: SnapshotStore,
    projections: Sequence[Projection],
    progress: Progress | None = None,
) -> Rebuilt:
    """Replay every event into a new generation of each of `projections`, then make
    those generations the ones reads use."""
    generations = {p.name: snapshots.begin_rebuild(p.name) for p in projections}
    log.info("rebuild_started", generations=generations)
    time.sleep(2 * GENERATIONS_TTL_S)  # every live projector now writes to both
    total, done = store.count(), 0
    started = time.perf_counter()
    for page in _pages(store):
        streams = [(stream_id, parsed(grouped)) for stream_id, grouped in
                   groupby(page, key=lambda event: event.stream_id)]  # fmt: skip
        for projection in projections:
            handled = [(s, events) for s, events in streams if projection.handles(s)]
            if handled:
                generation = generations[projection.name]
                _replay_page(snapshots, projection, generation, handled)
        done += len(page)
        if progress is not None:
            progress(done, max(total, done))
    replay_s = time.perf_counter() - started
    for name, generation in generations.items():
        snapshots.activate(name, generation)
    log.info("rebuild_finished", generations=generations, events=done, replay_s=replay_s)
    return Rebuilt(generations, done, replay_s)


def _pages(store: EventStore) -> Iterator[tuple[EventEnvelope, ...]]:
    cursor: str | None = None
    while True:
        page = store.read_all(cursor, limit=PAGE)
        if page.events:
            yield page.events
        if page.cursor is None:
            return
        cursor = page.cursor


def _replay_page(
    snapshots: SnapshotStore,
    projection: Projection,
    generation: int,
    streams: list[tuple[str, list[Recorded]]],
) -> None:
    """One page's streams for one projection, in as few commits as the write limit
    allows. A stream the live projector moved meanwhile (or too long for a batch) is
    replayed on its own."""
    positions = snapshots.positions(projection.name, generation, [s for s, _ in streams])
    batch: list[tuple[Commit, list[Recorded]]] = []
    alone: list[tuple[str, list[Recorded]]] = []
    size = 0
    for stream_id, events in streams:
        position = positions.get(stream_id)
        at = position.version if position else 0
        pending = [event for event in events if event.envelope.version > at]
        if not pending:
            continue
        if len(pending) > CHUNK or pending[0].envelope.version != at + 1:
            alone.append((stream_id, events))
            continue
        state, writes = projection.fold(position.state if position else {}, pending)
        commit = Commit(stream_id, at, Position(pending[-1].envelope.version, state), writes)
        if size + len(writes) + 1 > BATCH_WRITES:
            _flush(snapshots, projection, generation, batch, alone)
            batch, size = [], 0
        batch.append((commit, events))
        size += len(writes) + 1
    _flush(snapshots, projection, generation, batch, alone)
    for stream_id, events in alone:
        _replay(snapshots, projection, generation, stream_id, events)


def _flush(
    snapshots: SnapshotStore,
    projection: Projection,
    generation: int,
    batch: list[tuple[Commit, list[Recorded]]],
    alone: list[tuple[str, list[Recorded]]],
) -> None:
    if not batch:
        return
    try:
        snapshots.commit_many(projection.name, generation, [commit for commit, _ in batch])
    except PositionMoved:
        alone.extend((commit.stream_id, events) for commit, events in batch)


def _replay(
    snapshots: SnapshotStore,
    projection: Projection,
    generation: int,
    stream_id: str,
    events: list[Recorded],
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
                state, writes = projection.fold(state, chunk)
                after = Position(chunk[-1].envelope.version, state)
                snapshots.commit(projection.name, generation, stream_id, at, after, writes)
                at = after.version
        except PositionMoved:
            continue
        return
    raise PositionMoved(f"rebuild of {projection.name} could not settle on {stream_id}")
