"""The SnapshotStore contract: every adapter runs these unchanged."""

from __future__ import annotations

import dataclasses
import math
import operator
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.ports.snapshots import (
    Commit,
    Delete,
    Document,
    InvalidCursor,
    Op,
    Page,
    Position,
    PositionMoved,
    Put,
    SnapshotStore,
    Where,
    Write,
)
from tests.backends import Backend

T = TypeVar("T")

OWNERS = {"sessions": "sessions", "session_controls": "sessions", "leads": "leads"}
EVENTUALLY_S = 15.0


def open_store(backend: Backend) -> SnapshotStore:
    if backend.kind == "sqlite":
        from adapters.sqlite.snapshots import SqliteSnapshotStore

        return SqliteSnapshotStore(backend.sqlite_path, OWNERS)
    from google.cloud import firestore

    from adapters.firestore.snapshots import FirestoreSnapshotStore

    os.environ["FIRESTORE_EMULATOR_HOST"] = backend.firestore_host
    return FirestoreSnapshotStore(firestore.Client(project=backend.project), OWNERS)


def fresh(backend: Backend) -> Backend:
    """Another empty back end of the same kind: a new file, or a new project."""
    name = uuid.uuid4().hex[:12]
    if backend.kind == "sqlite":
        path = Path(backend.sqlite_path).with_name(f"{name}.db")
        return dataclasses.replace(backend, sqlite_path=str(path))
    return dataclasses.replace(backend, project=f"snapshots-{name}")


@pytest.fixture
def snapshots(backend: Backend) -> Iterator[SnapshotStore]:
    opened = open_store(backend)
    yield opened
    opened.close()


def apply(
    store: SnapshotStore,
    *writes: Write,
    projection: str = "sessions",
    stream_id: str = "session-a",
    generation: int | None = None,
) -> Position:
    """Commit `writes` as the next event of `stream_id`, wherever its position is."""
    generation = generation or store.generations()[projection][0]
    at = store.position(projection, generation, stream_id)
    version = at.version if at else 0
    position = Position(version + 1, {"seen": version + 1})
    store.commit(projection, generation, stream_id, version, position, writes)
    return position


def ids(documents: Sequence[Document]) -> list[str]:
    return [document["id"] for document in documents]


def everything(
    store: SnapshotStore, collection: str, cursor: str | None = None, **query: Any
) -> list[Document]:
    """Every page of a query from `cursor` on, in order."""
    found: list[Document] = []
    while True:
        page = store.query(collection, cursor=cursor, **query)
        found += page.documents
        if page.cursor is None:
            return found
        cursor = page.cursor


def stored(backend: Backend) -> str:
    """Everything the back end holds, as text: every row of every table, or every
    Firestore document (those under parents that do not exist included)."""
    if backend.kind == "sqlite":
        with closing(sqlite3.connect(backend.sqlite_path)) as connection:
            tables = connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
            return "\n".join(
                repr(row)
                for (table,) in tables.fetchall()
                for row in connection.execute(f'SELECT * FROM "{table}"')
            )
    from google.cloud import firestore

    found: list[str] = []
    with closing(firestore.Client(project=backend.project)) as client:
        collections = list(client.collections())
        while collections:
            for ref in collections.pop().list_documents():
                snapshot = ref.get()
                found.append(f"{ref.path} {snapshot.to_dict() if snapshot.exists else None!r}")
                collections.extend(ref.collections())
    return "\n".join(found)


def eventually(check: Callable[[], bool], timeout: float = EVENTUALLY_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not true after {timeout} s")
        time.sleep(0.02)


def race(n: int, fn: Callable[[int], T]) -> tuple[list[T], list[Exception]]:
    """Run `fn(i)` in `n` threads released together; what they returned and raised."""
    barrier = threading.Barrier(n)
    results: list[T] = []
    errors: list[Exception] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results.append(fn(i))
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


# -- committing ----------------------------------------------------------------------


def test_a_new_store_is_empty(snapshots: SnapshotStore) -> None:
    assert snapshots.get("sessions", "s1") is None
    assert snapshots.query("sessions") == Page([], None)
    assert snapshots.query("leads", where=[Where("x", "==", 1)], order_by="y") == Page([], None)
    assert snapshots.position("sessions", 1, "session-a") is None
    assert snapshots.generations() == {"sessions": (1, None), "leads": (1, None)}


def test_commit_writes_the_documents_and_the_position_together(
    snapshots: SnapshotStore,
) -> None:
    position = Position(1, {"state": "OPEN", "seen": ["m1"]})

    snapshots.commit(
        "sessions",
        1,
        "session-a",
        0,
        position,
        [
            Put("sessions", "a", {"state": "OPEN", "count": 1}),
            Put("session_controls", "a", {"mode": "LLM_ACTIVE", "version": 0}),
        ],
    )

    assert snapshots.get("sessions", "a") == {"id": "a", "state": "OPEN", "count": 1}
    assert snapshots.get("session_controls", "a") == {"id": "a", "mode": "LLM_ACTIVE", "version": 0}
    assert snapshots.position("sessions", 1, "session-a") == position
    assert snapshots.position("sessions", 1, "session-b") is None
    assert snapshots.position("leads", 1, "session-a") is None


def test_commit_many_writes_every_stream_or_none(snapshots: SnapshotStore) -> None:
    snapshots.commit("sessions", 1, "session-b", 0, Position(2), [Put("sessions", "b", {"n": 2})])
    both = [
        Commit("session-a", 0, Position(1, {"s": "a"}), [Put("sessions", "a", {"n": 1})]),
        Commit("session-b", 2, Position(3, {"s": "b"}), [Put("sessions", "b", {"n": 3})]),
    ]

    snapshots.commit_many("sessions", 1, both)

    assert [snapshots.get("sessions", i) for i in "ab"] == [
        {"id": "a", "n": 1},
        {"id": "b", "n": 3},
    ]
    assert snapshots.positions("sessions", 1, ["session-a", "session-b", "session-c"]) == {
        "session-a": Position(1, {"s": "a"}),
        "session-b": Position(3, {"s": "b"}),
    }
    one_stale = [
        Commit("session-c", 0, Position(1), [Put("sessions", "c", {"n": 1})]),
        Commit("session-a", 0, Position(2), [Put("sessions", "a", {"n": 2})]),  # it is at 1
    ]
    with pytest.raises(PositionMoved):
        snapshots.commit_many("sessions", 1, one_stale)
    assert snapshots.get("sessions", "c") is None
    assert snapshots.get("sessions", "a") == {"id": "a", "n": 1}
    assert snapshots.positions("sessions", 1, ["session-c"]) == {}


def test_a_commit_holds_500_writes_and_positions_at_most(snapshots: SnapshotStore) -> None:
    commits = [
        Commit(f"session-{n}", 0, Position(1), [Put("sessions", str(n), {"n": n})])
        for n in range(250)
    ]

    with pytest.raises(ValueError, match="at most 500"):
        snapshots.commit_many("sessions", 1, [*commits, commits[0]])
    snapshots.commit_many("sessions", 1, commits)

    assert len(snapshots.positions("sessions", 1, [c.stream_id for c in commits])) == 250


@pytest.mark.parametrize("expected", [0, 2, 5])
def test_a_stale_expected_raises_position_moved_and_writes_nothing(
    snapshots: SnapshotStore, expected: int
) -> None:
    first = apply(snapshots, Put("sessions", "a", {"n": 1}))

    with pytest.raises(PositionMoved):
        snapshots.commit(
            "sessions",
            1,
            "session-a",
            expected,
            Position(9),
            [
                Put("sessions", "a", {"n": 2}),
                Put("sessions", "b", {"n": 2}),
                Delete("sessions", "a"),
            ],
        )

    assert snapshots.get("sessions", "a") == {"id": "a", "n": 1}
    assert snapshots.get("sessions", "b") is None
    assert snapshots.position("sessions", 1, "session-a") == first


def test_concurrent_commits_on_one_stream_win_each_version_exactly_once(
    snapshots: SnapshotStore,
) -> None:
    writers = 3
    for expected in (0, 1):

        def commit(writer: int, expected: int = expected) -> int:
            snapshots.commit(
                "sessions",
                1,
                "session-a",
                expected,
                Position(expected + 1, {"by": writer}),
                [Put("sessions", f"v{expected}-w{writer}", {"by": writer})],
            )
            return writer

        won, lost = race(writers, commit)

        assert len(won) == 1, lost
        assert len(lost) == writers - 1
        assert all(isinstance(error, PositionMoved) for error in lost), lost
        assert ids(snapshots.query("sessions", limit=100).documents)[-1] == f"v{expected}-w{won[0]}"
        assert snapshots.position("sessions", 1, "session-a") == Position(
            expected + 1, {"by": won[0]}
        )
    assert len(snapshots.query("sessions", limit=100).documents) == 2


def test_put_replaces_and_merge_changes_only_the_given_fields(snapshots: SnapshotStore) -> None:
    apply(snapshots, Put("sessions", "a", {"x": 1, "y": {"deep": 1, "keep": 2}, "z": "z"}))

    apply(snapshots, Put("sessions", "a", {"y": {"deep": 3}, "z": None, "w": [1]}, merge=True))
    assert snapshots.get("sessions", "a") == {
        "id": "a",
        "x": 1,
        "y": {"deep": 3},  # a nested object replaces the field
        "z": None,  # None stores null
        "w": [1],
    }

    apply(snapshots, Put("sessions", "a", {"only": True}))
    assert snapshots.get("sessions", "a") == {"id": "a", "only": True}


def test_a_merge_into_a_missing_document_creates_it(snapshots: SnapshotStore) -> None:
    apply(snapshots, Put("sessions", "a", {"x": 1}, merge=True))

    assert snapshots.get("sessions", "a") == {"id": "a", "x": 1}


def test_the_writes_of_one_commit_apply_in_order(snapshots: SnapshotStore) -> None:
    apply(snapshots, Put("sessions", "gone", {"x": 0}), Put("sessions", "back", {"x": 0}))

    apply(
        snapshots,
        Put("sessions", "a", {"x": 1, "y": 1}),
        Put("sessions", "a", {"y": 2}, merge=True),
        Put("sessions", "a", {"z": 3}, merge=True),
        Delete("sessions", "gone"),
        Delete("sessions", "back"),
        Put("sessions", "back", {"x": 4}, merge=True),
    )

    assert snapshots.get("sessions", "a") == {"id": "a", "x": 1, "y": 2, "z": 3}
    assert snapshots.get("sessions", "gone") is None
    assert snapshots.get("sessions", "back") == {"id": "back", "x": 4}


def test_delete_removes_a_document_and_deleting_a_missing_one_is_fine(
    snapshots: SnapshotStore,
) -> None:
    apply(snapshots, Put("sessions", "a", {"x": 1}), Put("sessions", "b", {"x": 2}))

    apply(snapshots, Delete("sessions", "a"), Delete("sessions", "never"))

    assert snapshots.get("sessions", "a") is None
    assert ids(snapshots.query("sessions").documents) == ["b"]


def test_documents_come_back_exactly(snapshots: SnapshotStore) -> None:
    awkward: Document = {
        "text": 'olá ✓ 😀 \x00 "quoted"',
        "big": 2**63 - 1,
        "small": -(2**63),
        "float": 0.1,
        "whole_float": 2.0,
        "flag": False,
        "nothing": None,
        "nested": {"m": [[1, [2]], {"": 1}], "__x__": {"a.b": None}},
        "": "empty key",
        "__reserved__": 1,
        "a.b/c": "dotted",
        "_private": "x",
        "list": [],
        "object": {},
    }

    apply(snapshots, Put("sessions", "doc:1 é", {**awkward, "id": "doc:1 é"}))

    found = snapshots.get("sessions", "doc:1 é")
    assert found == {**awkward, "id": "doc:1 é"}
    assert found is not None
    assert type(found["whole_float"]) is float
    assert type(found["big"]) is int
    assert snapshots.query("sessions").documents == [found]


@pytest.mark.parametrize(
    ("writes", "error"),
    [
        pytest.param([Put("nope", "a", {})], "unknown collection", id="unknown-collection"),
        pytest.param([Put("leads", "a", {})], "belongs to 'leads'", id="other-projection"),
        pytest.param([Put("sessions", "a/b", {})], "invalid document id", id="slash"),
        pytest.param([Put("sessions", "..", {})], "invalid document id", id="dots"),
        pytest.param([Put("sessions", "", {})], "invalid document id", id="empty-id"),
        pytest.param([Put("sessions", "__a__", {})], "invalid document id", id="reserved-id"),
        pytest.param([Delete("sessions", "a/b")], "invalid document id", id="delete-slash"),
        pytest.param([Put("sessions", "a", {"id": "b"})], "another id", id="other-id"),
        pytest.param([Put("sessions", "a", {"n": 2**63})], "64 bits", id="int-too-big"),
        pytest.param([Put("sessions", "a", {"n": math.nan})], "JSON", id="nan"),
        pytest.param([Put("sessions", "a", {"n": [math.inf]})], "JSON", id="nested-inf"),
        pytest.param([Put("sessions", str(i), {}) for i in range(500)], "at most 500", id="500"),
    ],
)
def test_invalid_writes_are_refused_and_nothing_is_written(
    snapshots: SnapshotStore, writes: list[Write], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        snapshots.commit(
            "sessions", 1, "session-a", 0, Position(1), [Put("sessions", "x", {}), *writes]
        )

    assert snapshots.get("sessions", "x") is None
    assert snapshots.position("sessions", 1, "session-a") is None


def test_up_to_499_writes_commit_together(snapshots: SnapshotStore) -> None:
    apply(snapshots, *(Put("sessions", f"{i:03d}", {"i": i}) for i in range(499)))

    assert len(everything(snapshots, "sessions", limit=200)) == 499


def test_unknown_names_are_refused(snapshots: SnapshotStore) -> None:
    with pytest.raises(ValueError, match="unknown collection"):
        snapshots.get("nope", "a")
    with pytest.raises(ValueError, match="unknown collection"):
        snapshots.query("nope")
    with pytest.raises(ValueError, match="unknown projection"):
        snapshots.position("nope", 1, "session-a")
    with pytest.raises(ValueError, match="unknown projection"):
        snapshots.begin_rebuild("session_controls")
    with pytest.raises(ValueError, match="invalid stream id"):
        snapshots.position("sessions", 1, "a/b")


# -- querying ------------------------------------------------------------------------

TYPED: dict[str, Document] = {
    "a": {"n": 1, "s": "x", "b": True, "z": None},
    "b": {"n": 2.5, "s": "y", "b": False, "z": "v"},
    "c": {"n": 3, "s": "x", "b": True, "z": 0},
    "d": {"n": "3", "s": "Y", "b": 1, "z": None},
    "e": {"s": None, "b": None},
    "f": {"n": True, "s": "xy", "nested": {"n": 1, "s": "x"}},
    "g": {"n": None, "s": ""},
    "h": {"n": [1], "s": ["x"]},
    "i": {"n": {"v": 1}, "s": {"x": "x"}},
    "j": {"n": 1.0, "s": "é"},
    "k": {"n": -1, "s": "x "},
}


@pytest.fixture
def typed(snapshots: SnapshotStore) -> SnapshotStore:
    apply(snapshots, *(Put("sessions", doc_id, data) for doc_id, data in TYPED.items()))
    return snapshots


FILTER_CASES = [
    pytest.param([("n", "==", 3)], "id", ["c"], id="int-eq-not-string-or-bool"),
    pytest.param([("n", "==", 1)], "id", ["a", "j"], id="int-eq-matches-float"),
    pytest.param([("n", "==", 2.5)], "id", ["b"], id="float-eq"),
    pytest.param([("n", ">=", 2.5)], "n", ["b", "c"], id="number-ge"),
    pytest.param([("n", ">", 1)], "n", ["b", "c"], id="number-gt"),
    pytest.param([("n", ">", 2.5)], "n", ["c"], id="number-gt-float"),
    pytest.param([("n", "<", 3)], "n", ["k", "a", "j", "b"], id="number-lt"),
    pytest.param([("n", "<=", 3)], "n", ["k", "a", "j", "b", "c"], id="number-le"),
    pytest.param([("n", ">=", 0), ("n", "<", 3)], "n", ["a", "j", "b"], id="number-between"),
    pytest.param([("s", "==", "x")], "id", ["a", "c"], id="str-eq"),
    pytest.param([("s", ">=", "x")], "s", ["a", "c", "k", "f", "b", "j"], id="str-ge"),
    pytest.param([("s", "<", "x")], "s", ["g", "d"], id="str-lt"),
    pytest.param([("s", ">", "")], "s", ["d", "a", "c", "k", "f", "b", "j"], id="str-gt"),
    pytest.param([("s", "<=", "x")], "s", ["g", "d", "a", "c"], id="str-le"),
    pytest.param([("b", "==", True)], "id", ["a", "c"], id="bool-eq-not-int"),
    pytest.param([("b", "==", False)], "id", ["b"], id="bool-eq-false"),
    pytest.param([("b", ">", False)], "b", ["a", "c"], id="bool-gt"),
    pytest.param([("b", "<=", True)], "b", ["b", "a", "c"], id="bool-le"),
    pytest.param([("z", "==", None)], "id", ["a", "d"], id="null-eq-not-missing"),
    pytest.param([("s", "==", None)], "id", ["e"], id="null-eq"),
    pytest.param([("z", "==", 0)], "id", ["c"], id="zero-is-not-null-or-false"),
    pytest.param([("s", "==", "x"), ("b", "==", True)], "id", ["a", "c"], id="two-eq"),
    pytest.param([("s", "==", "x"), ("n", ">=", 2)], "n", ["c"], id="eq-and-range"),
    pytest.param([("s", "==", "x")], "n", ["a", "c"], id="eq-order-other-field"),
    pytest.param([("nested", "==", None)], "id", [], id="objects-are-not-matched"),
    pytest.param([("missing", "==", None)], "id", [], id="missing-field"),
]


@pytest.mark.parametrize(("where", "order_by", "expected"), FILTER_CASES)
def test_filters_match_values_of_their_own_type(
    typed: SnapshotStore, where: list[tuple[str, Op, Any]], order_by: str, expected: list[str]
) -> None:
    query = [Where(field, op, value) for field, op, value in where]

    for limit in (1, 50):
        found = everything(typed, "sessions", where=query, order_by=order_by, limit=limit)
        assert ids(found) == expected
    reversed_ = everything(typed, "sessions", where=query, order_by=order_by, descending=True)
    assert ids(reversed_) == expected[::-1]


@pytest.mark.parametrize(("where", "order_by", "expected"), FILTER_CASES)
def test_count_counts_what_a_query_lists(
    typed: SnapshotStore, where: list[tuple[str, Op, Any]], order_by: str, expected: list[str]
) -> None:
    query = [Where(field, op, value) for field, op, value in where]

    assert typed.count("sessions", query) == len(expected)


def test_count_counts_a_whole_collection_and_refuses_two_ranges(typed: SnapshotStore) -> None:
    assert typed.count("sessions") == len(TYPED)
    assert typed.count("leads") == 0
    with pytest.raises(ValueError, match="one field"):
        typed.count("sessions", [Where("n", ">", 1), Where("s", "<", "x")])
    with pytest.raises(ValueError, match="unknown collection"):
        typed.count("nope")


def test_ordering_by_a_field_goes_null_bool_number_string_and_skips_the_rest(
    typed: SnapshotStore,
) -> None:
    """As Firestore orders values of different types; documents where the field is
    missing or not a scalar are left out."""
    ascending = ["g", "f", "k", "a", "j", "b", "c", "d"]

    assert ids(typed.query("sessions", order_by="n").documents) == ascending
    assert ids(typed.query("sessions", order_by="n", descending=True).documents) == ascending[::-1]
    for limit in (1, 2, 3):
        found = everything(typed, "sessions", order_by="n", limit=limit)
        assert ids(found) == ascending
        found = everything(typed, "sessions", order_by="n", descending=True, limit=limit)
        assert ids(found) == ascending[::-1]


def test_ordering_by_id_lists_every_document_in_name_order(typed: SnapshotStore) -> None:
    assert ids(typed.query("sessions").documents) == sorted(TYPED)
    assert ids(typed.query("sessions", descending=True).documents) == sorted(TYPED)[::-1]


def test_the_cursor_is_none_exactly_on_the_last_page(typed: SnapshotStore) -> None:
    first = typed.query("sessions", limit=len(TYPED) - 1)
    assert first.cursor is not None
    last = typed.query("sessions", limit=len(TYPED) - 1, cursor=first.cursor)
    assert (ids(last.documents), last.cursor) == (["k"], None)
    assert typed.query("sessions", limit=len(TYPED)).cursor is None


def test_a_cursor_is_stable_across_ties_and_later_writes(snapshots: SnapshotStore) -> None:
    apply(snapshots, *(Put("sessions", f"d{i}", {"at": "2026-01-01"}) for i in range(0, 10, 2)))
    first = snapshots.query("sessions", order_by="at", limit=3)
    assert ids(first.documents) == ["d0", "d2", "d4"]

    apply(
        snapshots,
        Put("sessions", "d1", {"at": "2026-01-01"}),  # behind the cursor: not seen
        Put("sessions", "d5", {"at": "2026-01-01"}),  # ahead of it: seen
        Put("sessions", "a", {"at": "2025-12-31"}),  # earlier value: not seen
        Put("sessions", "z", {"at": "2026-01-02"}),  # later value: seen
    )

    rest = everything(snapshots, "sessions", order_by="at", limit=2, cursor=first.cursor)
    assert ids(rest) == ["d5", "d6", "d8", "z"]


@pytest.mark.parametrize(
    ("query", "error"),
    [
        pytest.param({"where": [Where("n", ">", 1)]}, "order_by='n'", id="range-on-other-field"),
        pytest.param(
            {"where": [Where("n", ">", 1), Where("s", "<", "x")], "order_by": "n"},
            "order_by='s'",
            id="two-ranges",
        ),
        pytest.param({"where": [Where("n", ">", None)], "order_by": "n"}, "null", id="null-gt"),
        pytest.param({"where": [Where("n", "!=", 1)]}, "operator", id="not-equal"),  # type: ignore[arg-type]
        pytest.param({"where": [Where("id", "==", "a")]}, "filter on 'id'", id="filter-on-id"),
        pytest.param({"where": [Where("a.b", "==", 1)]}, "filter on", id="dotted-field"),
        pytest.param({"where": [Where("n", "==", math.nan)]}, "compare", id="nan"),
        pytest.param({"order_by": "a.b"}, "order by", id="dotted-order"),
        pytest.param({"order_by": "_x"}, "order by", id="underscore-order"),
        pytest.param({"limit": 0}, "limit", id="no-limit"),
        pytest.param({"cursor": "garbage"}, "cursor", id="garbage-cursor"),
    ],
)
def test_queries_some_back_end_cannot_answer_are_refused(
    typed: SnapshotStore, query: dict[str, Any], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        typed.query("sessions", **query)


def test_a_cursor_belongs_to_its_ordering(typed: SnapshotStore) -> None:
    cursor = typed.query("sessions", order_by="n", limit=1).cursor

    with pytest.raises(InvalidCursor, match="cursor"):
        typed.query("sessions", order_by="s", cursor=cursor)
    with pytest.raises(InvalidCursor):
        typed.query("sessions", order_by="n", cursor="not one of ours")


COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    ">=": operator.ge,
    "<": operator.lt,
}
RANKS: list[str | int | float | bool | None] = [None, False, True, -1, 0, 1, 1.0, 2.5, "", "a", "B"]


def model_key(document: Document, field: str) -> tuple[int, Any, str]:
    value = document[field]
    kind = 0 if value is None else 1 if isinstance(value, bool) else 2
    kind = 3 if isinstance(value, str) else kind
    return (kind, 0 if value is None else value, document["id"])


@st.composite
def paged_queries(draw: st.DrawFn) -> tuple[dict[str, Document], dict[str, Any], int]:
    doc_ids = draw(st.lists(st.text("abAB09-~", min_size=1, max_size=4), max_size=16, unique=True))
    documents = {
        doc_id: draw(
            st.fixed_dictionaries(
                {"group": st.sampled_from(["g1", "g2"])},
                optional={"rank": st.sampled_from(RANKS)},
            )
        )
        for doc_id in doc_ids
    }
    order_by = draw(st.sampled_from(["id", "rank"]))
    where = draw(
        st.sampled_from(
            [[], [Where("group", "==", "g1")]]
            + ([[Where("rank", ">=", 0)], [Where("rank", "<", "a")]] if order_by == "rank" else [])
        )
    )
    query = {"where": where, "order_by": order_by, "descending": draw(st.booleans())}
    return documents, query, draw(st.integers(1, 6))


def expected_ids(documents: dict[str, Document], query: dict[str, Any]) -> list[str]:
    """The model: filter, then order by (kind, value, id) as Firestore does."""
    rows = [{**data, "id": doc_id} for doc_id, data in documents.items()]
    for w in query["where"]:
        kind = model_key({"v": w.value, "id": ""}, "v")[0]
        rows = [
            r
            for r in rows
            if w.field in r
            and model_key(r, w.field)[0] == kind
            and COMPARE[w.op](r[w.field], w.value)
        ]
    if query["order_by"] == "id":
        ordered = sorted(r["id"] for r in rows)
    else:
        with_field = [r for r in rows if "rank" in r]
        ordered = [r["id"] for r in sorted(with_field, key=lambda r: model_key(r, "rank"))]
    return ordered[::-1] if query["descending"] else ordered


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=paged_queries())
def test_pages_cover_every_matching_document_once_in_order(
    backend: Backend, case: tuple[dict[str, Document], dict[str, Any], int]
) -> None:
    documents, query, limit = case
    with closing(open_store(fresh(backend))) as store:
        if documents:
            apply(store, *(Put("sessions", doc_id, data) for doc_id, data in documents.items()))

        pages: list[list[str]] = []
        cursor = None
        while True:
            page = store.query("sessions", limit=limit, cursor=cursor, **query)
            pages.append(ids(page.documents))
            if page.cursor is None:
                break
            cursor = page.cursor
        counted = store.count("sessions", query["where"])

    assert [doc_id for page in pages for doc_id in page] == expected_ids(documents, query)
    assert counted == len(expected_ids(documents, {**query, "order_by": "id"}))
    assert all(len(page) == limit for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= limit or pages == [[]]


# -- generations ---------------------------------------------------------------------


def test_a_rebuild_is_invisible_until_activated_then_replaces_the_old_generation(
    backend: Backend, snapshots: SnapshotStore
) -> None:
    apply(
        snapshots,
        Put("sessions", "old", {"v": 1}),
        Put("session_controls", "old", {"v": "old-generation-marker"}),
    )
    apply(snapshots, Put("leads", "l1", {"v": 1}), projection="leads", stream_id="lead-1")

    generation = snapshots.begin_rebuild("sessions")
    assert generation == 2
    assert snapshots.generations() == {"sessions": (1, 2), "leads": (1, None)}
    rebuilt = apply(snapshots, Put("sessions", "new", {"v": 2}), generation=2)
    apply(snapshots, Put("sessions", "old", {"v": "live"}), generation=1, stream_id="session-b")

    assert ids(snapshots.query("sessions").documents) == ["old"]
    assert snapshots.get("sessions", "new") is None
    assert snapshots.get("sessions", "old") == {"id": "old", "v": "live"}
    assert "old-generation-marker" in stored(backend)  # we look where the store writes

    snapshots.activate("sessions", 2)

    assert snapshots.generations() == {"sessions": (2, None), "leads": (1, None)}
    assert ids(snapshots.query("sessions").documents) == ["new"]
    assert snapshots.get("sessions", "old") is None
    assert snapshots.get("session_controls", "old") is None
    assert snapshots.position("sessions", 2, "session-a") == rebuilt
    assert snapshots.position("sessions", 1, "session-a") is None
    assert snapshots.position("sessions", 1, "session-b") is None
    assert snapshots.get("leads", "l1") == {"id": "l1", "v": 1}  # another projection
    assert "old-generation-marker" not in stored(backend)


def test_positions_are_per_generation(snapshots: SnapshotStore) -> None:
    apply(snapshots, Put("sessions", "a", {}))
    apply(snapshots, Put("sessions", "a", {}))
    snapshots.begin_rebuild("sessions")

    assert snapshots.position("sessions", 2, "session-a") is None
    apply(snapshots, Put("sessions", "a", {}), generation=2)

    assert snapshots.position("sessions", 1, "session-a") == Position(2, {"seen": 2})
    assert snapshots.position("sessions", 2, "session-a") == Position(1, {"seen": 1})
    with pytest.raises(PositionMoved):
        snapshots.commit("sessions", 2, "session-a", 2, Position(3), [])


def test_only_the_active_and_the_rebuilding_generation_take_commits(
    snapshots: SnapshotStore,
) -> None:
    with pytest.raises(ValueError, match="generation 2 of 'sessions' is neither active"):
        snapshots.commit("sessions", 2, "session-a", 0, Position(1), [])
    snapshots.begin_rebuild("sessions")
    snapshots.activate("sessions", 2)

    with pytest.raises(ValueError, match="generation 1 of 'sessions' is neither active"):
        snapshots.commit("sessions", 1, "session-a", 0, Position(1), [Put("sessions", "a", {})])

    assert snapshots.position("sessions", 1, "session-a") is None


def test_only_the_generation_being_rebuilt_can_be_activated(snapshots: SnapshotStore) -> None:
    with pytest.raises(ValueError, match="not being rebuilt"):
        snapshots.activate("sessions", 2)
    apply(snapshots, Put("sessions", "a", {}))

    snapshots.activate("sessions", 1)  # already active: nothing changes

    assert snapshots.generations()["sessions"] == (1, None)
    assert snapshots.get("sessions", "a") is not None


def test_a_new_rebuild_abandons_the_one_under_way(snapshots: SnapshotStore) -> None:
    assert snapshots.begin_rebuild("sessions") == 2
    apply(snapshots, Put("sessions", "abandoned", {}), generation=2)

    assert snapshots.begin_rebuild("sessions") == 3
    assert snapshots.generations()["sessions"] == (1, 3)
    with pytest.raises(ValueError, match="not being rebuilt"):
        snapshots.activate("sessions", 2)
    apply(snapshots, Put("sessions", "rebuilt", {}), generation=3)

    snapshots.activate("sessions", 3)

    assert ids(snapshots.query("sessions").documents) == ["rebuilt"]
    assert snapshots.position("sessions", 2, "session-a") is None
    assert snapshots.begin_rebuild("sessions") == 4


# -- listening -----------------------------------------------------------------------


class Heard:
    def __init__(self) -> None:
        self.names: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, collection: str) -> None:
        with self._lock:
            self.names.append(collection)

    def count(self, collection: str) -> int:
        with self._lock:
            return self.names.count(collection)


def test_a_listener_hears_of_commits_until_it_stops(
    backend: Backend, snapshots: SnapshotStore
) -> None:
    heard = Heard()
    stop = snapshots.listen(heard)

    apply(snapshots, Put("sessions", "a", {"x": 1}), Put("session_controls", "a", {}))
    apply(snapshots, Put("leads", "l", {}), projection="leads", stream_id="lead-l")

    eventually(lambda: {"sessions", "session_controls", "leads"} <= set(heard.names))
    stop()
    before = list(heard.names)
    apply(snapshots, Put("sessions", "a", {"x": 2}))
    if backend.kind == "gcp":
        time.sleep(0.5)  # a watch delivers within milliseconds on the emulator
    assert heard.names == before


def test_a_failing_listener_breaks_neither_the_commit_nor_the_others(
    snapshots: SnapshotStore,
) -> None:
    def fail(collection: str) -> None:
        raise RuntimeError("listener bug")

    heard = Heard()
    snapshots.listen(fail)
    snapshots.listen(heard)

    apply(snapshots, Put("sessions", "a", {"x": 1}))
    apply(snapshots, Put("sessions", "a", {"x": 2}))

    assert snapshots.get("sessions", "a") == {"id": "a", "x": 2}
    eventually(lambda: heard.count("sessions") >= 1)


def test_listeners_hear_of_an_activation_and_follow_the_new_generation(
    snapshots: SnapshotStore,
) -> None:
    heard = Heard()
    snapshots.listen(heard)
    generation = snapshots.begin_rebuild("sessions")
    apply(snapshots, Put("sessions", "a", {}), generation=generation)

    snapshots.activate("sessions", generation)

    eventually(lambda: heard.count("sessions") >= 1 and heard.count("session_controls") >= 1)
    before = heard.count("sessions")
    apply(snapshots, Put("sessions", "b", {}))
    eventually(lambda: heard.count("sessions") > before)


def test_changes_are_stamped_in_commit_order_beside_the_documents(
    snapshots: SnapshotStore,
) -> None:
    """A live reader pages by the stamps: a document committed later is never stamped
    earlier than one committed before. The documents stay as written (their own
    `updated_at` included): the stamp is the store's, not a field."""
    written = "1999-01-01T00:00:00+00:00"
    for n, doc_id in enumerate(["b", "a", "c"]):
        snapshots.commit(
            "sessions", 1, f"session-{doc_id}", 0, Position(1),
            [Put("sessions", doc_id, {"n": n, "k": n % 2, "updated_at": written})],
        )  # fmt: skip

    assert snapshots.get("sessions", "a") == {"id": "a", "n": 1, "k": 1, "updated_at": written}
    assert snapshots.query("sessions").documents[0] == snapshots.get("sessions", "a")
    every = snapshots.changes("sessions", "2000-01-01T00:00:00+00:00")
    assert [c.document["id"] for c in every.changes] == ["b", "a", "c"]
    assert [c.document for c in every.changes] == [snapshots.get("sessions", d) for d in "bac"]
    times = [datetime.fromisoformat(c.at) for c in every.changes]
    assert times == sorted(set(times))
    assert times[0] > datetime(2020, 1, 1, tzinfo=UTC)
    later = snapshots.changes("sessions", every.changes[1].at)
    assert [c.document["id"] for c in later.changes] == ["a", "c"]
    odd = snapshots.changes("sessions", every.changes[0].at, [Where("k", "==", 0)])
    assert [c.document["id"] for c in odd.changes] == ["b", "c"]

    apply(snapshots, Put("sessions", "b", {"n": 9}, merge=True), stream_id="session-b")
    moved = snapshots.changes("sessions", every.changes[-1].at)
    assert [c.document["id"] for c in moved.changes] == ["c", "b"]
    assert moved.changes[-1].at > every.changes[-1].at


def test_changes_page_with_a_cursor(snapshots: SnapshotStore) -> None:
    writes = [Put("sessions", f"d{n}", {"n": n}) for n in range(5)]
    snapshots.commit("sessions", 1, "session-x", 0, Position(1), writes)  # one stamp or five
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = snapshots.changes("sessions", "2000-01-01T00:00:00+00:00", limit=2, cursor=cursor)
        seen += [c.document["id"] for c in page.changes]
        if page.cursor is None:
            break
        cursor = page.cursor
    assert sorted(seen) == [f"d{n}" for n in range(5)]
    assert len(seen) == 5
    with pytest.raises(InvalidCursor):
        snapshots.changes("sessions", "2000-01-01T00:00:00+00:00", cursor="garbage")


def test_a_document_cannot_carry_the_stores_stamp(snapshots: SnapshotStore) -> None:
    with pytest.raises(ValueError, match="_changed_at"):
        apply(snapshots, Put("sessions", "a", {"_changed_at": "2026-01-01T00:00:00+00:00"}))


def test_a_rebuilt_generation_is_all_changes_after_a_stamp_from_before_the_rebuild(
    snapshots: SnapshotStore,
) -> None:
    """A live stream whose mark is from before a rebuild misses nothing of the new
    generation once it is switched to."""
    apply(snapshots, Put("sessions", "a", {"n": 1}))
    (mark,) = snapshots.changes("sessions", "2000-01-01T00:00:00+00:00").changes
    generation = snapshots.begin_rebuild("sessions")
    apply(snapshots, Put("sessions", "a", {"n": 1}), generation=generation)
    apply(snapshots, Put("sessions", "b", {"n": 2}), stream_id="session-b", generation=generation)

    snapshots.activate("sessions", generation)

    after = snapshots.changes("sessions", mark.at).changes
    assert sorted((c.document["id"], c.document["n"]) for c in after) == [("a", 1), ("b", 2)]
    assert all(c.at > mark.at for c in after)
