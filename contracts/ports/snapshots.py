"""The `SnapshotStore` port: the documents operators read, built from events.

A document lives in a collection under an id and is a JSON object. Projections write
documents together with their position in the stream they fold, in one atomic
`commit`: a position that moved since the projection read it (another projector, a
redelivery) makes the commit a no-op, never a double application.

Collections are versioned by generation so a rebuild can fill fresh ones while the
current ones serve reads, then switch every read to them in one write
(`activate`). Readers name the logical collection; the store resolves the generation
of the projection that owns it: an adapter is built with `owners`, a mapping from each
logical collection to its projection (`projections.catalogue.OWNERS`).

Every adapter passes `tests/contract/test_snapshots.py` unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Document = dict[str, Any]
"""A JSON object: str keys; str, int, float, bool, None, lists and objects as values.

A document is stored as written: the store adds no field to it (`get` and `query` add
only `id`). Where it was last changed in commit order is kept beside it: see
`SnapshotStore.changes`."""


@dataclass(frozen=True)
class Put:
    """Write the whole document (replacing it), or with `merge` only the given fields
    (a `None` value then stores null; nested objects replace the field)."""

    collection: str
    doc_id: str
    data: Document
    merge: bool = False


@dataclass(frozen=True)
class Delete:
    collection: str
    doc_id: str


Write = Put | Delete


@dataclass(frozen=True)
class Position:
    """How far a projection has folded one stream, with the fold's state (what the
    projection needs to apply the next event without re-reading the stream)."""

    version: int
    state: Document = field(default_factory=dict)


@dataclass(frozen=True)
class Commit:
    """One stream's part of a `commit_many`: check it is at `expected`, then store
    `position` and apply `writes`."""

    stream_id: str
    expected: int
    position: Position
    writes: Sequence[Write]


Op = Literal["==", ">=", "<=", ">", "<"]


@dataclass(frozen=True)
class Where:
    field: str
    op: Op
    value: str | int | float | bool | None


@dataclass(frozen=True)
class Page:
    documents: list[Document]
    """Each document with its id under the key `id`."""
    cursor: str | None
    """Pass back to get the next page; None on the last one."""


@dataclass(frozen=True)
class Change:
    at: str
    """The store's stamp of the commit that last wrote the document: its time (ISO
    8601, UTC, to the microsecond), in commit order. No field of the document."""
    document: Document
    """With its id under the key `id`, as `get` gives it."""


@dataclass(frozen=True)
class Changes:
    changes: list[Change]
    cursor: str | None
    """Pass back to get the next page; None on the last one."""


class InvalidCursor(ValueError):
    """A cursor this store did not give (or for another query)."""


class PositionMoved(Exception):
    """`commit` found the stream's position elsewhere than expected: another commit
    got there first. Nothing was written."""


Listener = Callable[[str], None]
"""Called with a logical collection name after a commit changed documents in it."""


class SnapshotStore(Protocol):
    # --- projecting ---------------------------------------------------------------------

    def position(self, projection: str, generation: int, stream_id: str) -> Position | None:
        """Where `projection` (in `generation`) is on `stream_id`; None before its first
        event."""
        ...

    def commit(
        self,
        projection: str,
        generation: int,
        stream_id: str,
        expected: int,
        position: Position,
        writes: Sequence[Write],
    ) -> None:
        """Atomically: check the stream's position is still at version `expected` (0:
        none yet), store `position`, and apply `writes` to `generation`'s collections.
        Raises `PositionMoved` (writing nothing) otherwise."""
        ...

    def commit_many(self, projection: str, generation: int, commits: Sequence[Commit]) -> None:
        """Several streams' commits, atomically: all or none. Raises `PositionMoved`
        (writing nothing) if any stream is not where its commit expects. A rebuild
        commits a page's streams at once this way; writes and positions together stay
        within what one commit may hold (Firestore: 500)."""
        ...

    def positions(
        self, projection: str, generation: int, stream_ids: Sequence[str]
    ) -> dict[str, Position]:
        """The positions of those of `stream_ids` that have one, in one read."""
        ...

    # --- generations ----------------------------------------------------------------------

    def generations(self) -> Mapping[str, tuple[int, int | None]]:
        """Per projection: (the generation reads use, the one being rebuilt or None)."""
        ...

    def begin_rebuild(self, projection: str) -> int:
        """Start a new generation for `projection`, empty; returns its number. Live
        projectors write to it beside the active one until `activate`."""
        ...

    def activate(self, projection: str, generation: int) -> None:
        """Switch every read of `projection`'s collections to `generation`, at once,
        then drop the previous generation's documents and positions."""
        ...

    # --- reading ------------------------------------------------------------------------

    def get(self, collection: str, doc_id: str) -> Document | None:
        """The document (with its `id`) in the active generation, or None."""
        ...

    def query(
        self,
        collection: str,
        where: Sequence[Where] = (),
        order_by: str = "id",
        descending: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Documents matching every `where` (on top-level fields), ordered by
        `order_by` then id, one page at a time. Raises `InvalidCursor`."""
        ...

    def count(self, collection: str, where: Sequence[Where] = ()) -> int:
        """How many documents match every `where` (ranges on one field at most, as a
        query ordered by it allows), without reading them."""
        ...

    def changes(
        self,
        collection: str,
        since: str,
        where: Sequence[Where] = (),
        limit: int = 50,
        cursor: str | None = None,
    ) -> Changes:
        """Documents of the active generation last written at or after the stamp
        `since`, matching every `where` (equality only), in stamp order then id, one
        page at a time. Every commit stamps the documents it writes, later than any
        stamp already visible, so a live reader can page through changes without
        missing one committed late. A rebuilt generation's documents carry the
        stamps of the rebuild's commits. Raises `InvalidCursor`."""
        ...

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` when documents change (any process on gcp; this process on
        embedded). Returns a function that stops listening."""
        ...

    def close(self) -> None: ...
