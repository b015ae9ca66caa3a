"""How far each projection is behind the event store.

Walks every stream once (a page at a time) and compares its last version with each
projection's position on it: the events not yet applied are the lag. Meant for an
operator's occasional look, not for a hot path (the live lag in seconds is a
Prometheus gauge of the projector)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from contracts.ports.eventstore import EventStore
from contracts.ports.snapshots import SnapshotStore
from projections.projection import Projection
from projections.rebuild import PAGE


@dataclass
class ProjectionStatus:
    name: str
    active: int
    building: int | None
    streams: int = 0
    """Streams this projection folds."""
    applied: int = 0
    """Events applied, over those streams."""
    behind: int = 0
    """Events in the store not applied yet."""
    lagging_streams: list[str] = field(default_factory=list)


def projection_status(
    store: EventStore,
    snapshots: SnapshotStore,
    projections: Sequence[Projection],
    progress: Callable[[int, int], None] | None = None,
) -> list[ProjectionStatus]:
    generations = snapshots.generations()
    found = {
        p.name: ProjectionStatus(p.name, *generations.get(p.name, (1, None))) for p in projections
    }
    last: dict[str, int] = {}
    cursor: str | None = None
    total, seen = store.count(), 0
    while True:
        page = store.read_all(cursor, limit=PAGE)
        for event in page.events:
            last[event.stream_id] = event.version
        seen += len(page.events)
        _settle(snapshots, projections, found, last, complete=page.cursor is None)
        if progress is not None:
            progress(seen, max(total, seen))
        if page.cursor is None:
            return list(found.values())
        cursor = page.cursor


def _settle(
    snapshots: SnapshotStore,
    projections: Sequence[Projection],
    found: dict[str, ProjectionStatus],
    last: dict[str, int],
    complete: bool,
) -> None:
    """Count the streams whose last version is known: all but the page's last one,
    which may go on in the next page (all of them at the end)."""
    settled = list(last) if complete else list(last)[:-1]
    for stream_id in settled:
        version = last.pop(stream_id)
        for projection in projections:
            if not projection.handles(stream_id):
                continue
            status = found[projection.name]
            position = snapshots.position(projection.name, status.active, stream_id)
            applied = position.version if position else 0
            status.streams += 1
            status.applied += applied
            if applied < version:
                status.behind += version - applied
                if len(status.lagging_streams) < 10:
                    status.lagging_streams.append(stream_id)
