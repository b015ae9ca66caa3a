"""The live projector: consumes the `events` topic and brings each projection's
documents up to the event, in every generation being served or rebuilt.

Delivery is at least once and may reorder: event `v` of a stream is applied only on
top of `v-1`. An older event is a duplicate and changes nothing; a newer one means
events were missed or are still on their way, so the gap is read from the event store
and applied in order. The position is committed with the documents, so a crash between
the two cannot happen.

A lost delivery of a stream's *last* event leaves no later one to reveal the gap, so
`heal` looks again, now and then, at the streams this projector was delivered events of
in the last `HEAL_WINDOW_S`: one whose store version is past what is applied is caught
up from the store. (The Pub/Sub emulator was seen to lose deliveries under load; a
production subscription may too, after its retention.)
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import structlog

from contracts.envelope import EventEnvelope
from contracts.ports.eventstore import EventStore
from contracts.ports.snapshots import Position, PositionMoved, SnapshotStore
from projections.catalogue import PROJECTIONS
from projections.projection import Projection, Recorded, parsed

log = structlog.get_logger(__name__)


CHUNK = 100
"""Events folded into one commit when healing a gap: bounded writes per commit
(Firestore takes 500 at most)."""
ATTEMPTS = 10
STRIPES = 64
GENERATIONS_TTL_S = 1.0
"""How long a projector trusts the generations it read: a rebuild waits twice this
after it begins, so every projector writes to the new generation before the replay."""
POSITIONS_CACHED = 20_000
HEAL_WINDOW_S = 120.0
"""How long after its last delivery a stream is looked at again."""
HEAL_BATCH = 200
RECENT_KEPT = 10_000
"""Streams looked at per `heal` call, the least recently looked at first."""


class Projector:
    def __init__(
        self,
        store: EventStore,
        snapshots: SnapshotStore,
        projections: Sequence[Projection] = PROJECTIONS,
    ) -> None:
        self._store = store
        self._snapshots = snapshots
        self._projections = projections
        self._locks = [threading.Lock() for _ in range(STRIPES)]
        self._positions = _Positions(snapshots)
        self._generations: tuple[float, Mapping[str, tuple[int, int | None]]] = (-1e9, {})
        self._recent: OrderedDict[str, float] = OrderedDict()
        """Streams delivered lately → when; in the order `heal` should look at them."""
        self._recent_lock = threading.Lock()

    def generations(self) -> Mapping[str, tuple[int, int | None]]:
        read_at, generations = self._generations
        if time.monotonic() - read_at > GENERATIONS_TTL_S:
            generations = self._snapshots.generations()
            self._generations = (time.monotonic(), generations)
        return generations

    def handle(self, envelope: EventEnvelope) -> None:
        with self._recent_lock:
            self._recent[envelope.stream_id] = time.monotonic()
            self._recent.move_to_end(envelope.stream_id)
            while len(self._recent) > RECENT_KEPT:
                self._recent.popitem(last=False)
        # one stream at a time in this process: its events would only contend
        with self._locks[hash(envelope.stream_id) % len(self._locks)]:
            generations = self.generations()
            recorded = Recorded(envelope, envelope.event())
            for projection in self._projections:
                if not projection.handles(envelope.stream_id):
                    continue
                active, building = generations.get(projection.name, (1, None))
                for generation in (active, building):
                    if generation is not None:
                        self.bring_up_to(projection, generation, recorded)

    def heal(self) -> int:
        """Catch up the streams delivered lately whose last events never came; the
        number of events applied."""
        now = time.monotonic()
        with self._recent_lock:
            while self._recent and now - next(iter(self._recent.values())) > HEAL_WINDOW_S:
                self._recent.popitem(last=False)
            looked_at = list(self._recent)[:HEAL_BATCH]
        applied = 0
        for stream_id in looked_at:
            applied += self._heal_stream(stream_id)
            with self._recent_lock:  # to the back of the line, keeping when it was delivered
                if stream_id in self._recent:
                    self._recent.move_to_end(stream_id)
        return applied

    def _heal_stream(self, stream_id: str) -> int:
        generations = self.generations()
        folding = [
            (projection, generation)
            for projection in self._projections
            if projection.handles(stream_id)
            for generation in generations.get(projection.name, (1, None))
            if generation is not None
        ]
        if not folding:
            return 0
        version = self._store.version(stream_id)
        behind = [
            (projection, generation)
            for projection, generation in folding
            if _version_of(self._positions.get((projection.name, generation, stream_id))) < version
        ]
        if not behind:
            return 0
        (last,) = self._store.read(stream_id, from_version=version)[-1:]
        recorded = Recorded(last, last.event())
        applied = 0
        with self._locks[hash(stream_id) % len(self._locks)]:
            for projection, generation in behind:
                caught_up = self.bring_up_to(projection, generation, recorded)
                if caught_up:
                    log.warning("projection_tail_healed", projection=projection.name,
                                stream_id=stream_id, events=caught_up)  # fmt: skip
                applied += caught_up
        return applied

    def bring_up_to(self, projection: Projection, generation: int, recorded: Recorded) -> int:
        """Apply `recorded` (and any events before it that are missing); the number of
        events applied."""
        envelope = recorded.envelope
        stream_id = envelope.stream_id
        key = (projection.name, generation, stream_id)
        for _ in range(ATTEMPTS):
            position = self._positions.get(key)
            at = position.version if position else 0
            if envelope.version <= at:
                return 0  # a duplicate, or older than what is applied
            if envelope.version == at + 1:
                events = [recorded]
            else:
                events = parsed(self._store.read(stream_id, from_version=at + 1)[:CHUNK])
                log.info("projection_gap_healed", projection=projection.name,
                         stream_id=stream_id, missing=envelope.version - at - 1)  # fmt: skip
            try:
                self._positions.put(key, self._commit(projection, generation, position, events))
            except PositionMoved:
                self._positions.forget(key)
                continue  # another projector got there first: look again
            except ValueError:
                self._positions.forget(key)  # a generation retired meanwhile
                raise
            if events[-1].envelope.version >= envelope.version:
                return envelope.version - at
        raise PositionMoved(
            f"{projection.name} could not settle on {stream_id} in {ATTEMPTS} attempts"
        )

    def _commit(
        self,
        projection: Projection,
        generation: int,
        position: Position | None,
        events: list[Recorded],
    ) -> Position:
        state = position.state if position else {}
        state, writes = projection.fold(state, events)
        expected = position.version if position else 0
        last = events[-1].envelope
        after = Position(last.version, state)
        stream_id = last.stream_id
        self._snapshots.commit(projection.name, generation, stream_id, expected, after, writes)
        return after


Key = tuple[str, int, str]


def _version_of(position: Position | None) -> int:
    return position.version if position else 0


class _Positions:
    """Positions this projector committed last, so the next event of a stream needs no
    read. A stale one is harmless: its commit fails with `PositionMoved` and the
    position is read again."""

    def __init__(self, snapshots: SnapshotStore) -> None:
        self._snapshots = snapshots
        self._lock = threading.Lock()
        self._known: OrderedDict[Key, Position | None] = OrderedDict()

    def get(self, key: Key) -> Position | None:
        with self._lock:
            if key in self._known:
                self._known.move_to_end(key)
                return self._known[key]
        position = self._snapshots.position(*key)
        self.put(key, position)
        return position

    def put(self, key: Key, position: Position | None) -> None:
        with self._lock:
            self._known[key] = position
            self._known.move_to_end(key)
            while len(self._known) > POSITIONS_CACHED:
                self._known.popitem(last=False)

    def forget(self, key: Key) -> None:
        with self._lock:
            self._known.pop(key, None)
