"""The inbox's filters and sorts (`reading.list_sessions`) as store queries on every
back end: sessions projected from their events into a real snapshot store, then every
filter and sort walked in pages and compared with the same question answered over the
whole documents in Python (the spec)."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from contracts.api import AssigneeFilter, SessionSort
from contracts.envelope import Event, EventEnvelope
from contracts.events import (
    ControlChanged,
    LeadFieldCollected,
    LeadMarkedReadyForHuman,
    LeadOpened,
    LeadStatusChanged,
    SessionStarted,
)
from contracts.ports.snapshots import InvalidCursor, Page, Position, SnapshotStore, Where
from contracts.ports.vault import ContactIdentity, Vault
from contracts.snapshots.session import OPEN_END
from contracts.vocabulary import (
    FieldSource,
    HandoffReason,
    LeadField,
    LeadStatus,
    Priority,
    SessionMode,
)
from ingress import reading
from projections.lead_terms import LeadTermsProjection
from projections.projection import parsed
from projections.sessions import SessionsProjection
from tests.backends import Backend
from tests.integration.test_projections import open_snapshots
from tests.unit.event_examples import FROM_HASH, NOW, record
from tests.unit.test_inbox import CLOSED, STEPS

SESSIONS = 14
CITIES = ["São Paulo", "Campinas", "Paulínia"]
OPERATORS = ("ana", "bruno")


def history(
    rng: random.Random, number: int, from_hash: str = FROM_HASH
) -> tuple[list[Event], list[Event]]:
    """A session's events and its lead's."""
    session_id = f"s{number:02d}"
    kinds = rng.choices(["text", "image", "reaction", "bot", "warning", "human", "echo"], k=5)
    events: list[Event] = [
        SessionStarted(lead_id=f"l{number:02d}", from_hash=from_hash, business_number_id="1")
    ]
    events += [STEPS[kind](number * 100 + n) for n, kind in enumerate(kinds)]
    holder = rng.choice([None, *OPERATORS])
    if holder is not None:
        events.append(ControlChanged(mode=SessionMode.HUMAN_TAKEOVER, human_assignee=holder,
                                     reason="assumido", version=1, by=holder))  # fmt: skip
    if rng.random() < 0.25:
        events.append(CLOSED)
    lead: list[Event] = [
        LeadOpened(from_hash=from_hash, session_id=session_id),
        LeadFieldCollected(field=LeadField.CITY, value=CITIES[number % len(CITIES)],
                           source=FieldSource.USER, inferred=False, confidence=1.0,
                           evidence_message_ref=f"{number:064x}"),
    ]  # fmt: skip
    if rng.random() < 0.4:
        lead += [
            LeadStatusChanged(status=LeadStatus.READY_FOR_HUMAN, previous_status=LeadStatus.OPEN,
                              reason="pediu atendente"),
            LeadMarkedReadyForHuman(session_id=session_id, priority=Priority.HIGH,
                                    handoff_reason=HandoffReason.USER_REQUESTED),
        ]  # fmt: skip
    return events, lead


def stamped(events: list[Event], stream_id: str, start: datetime) -> list[EventEnvelope]:
    def at(n: int) -> dict[str, datetime]:
        return {"occurred_at": start + timedelta(seconds=n),
                "recorded_at": start + timedelta(seconds=n)}  # fmt: skip

    return [
        record(event, stream_id=stream_id, version=n).model_copy(update=at(n))
        for n, event in enumerate(events, start=1)
    ]


def project(snapshots: SnapshotStore, seed: int, contacts: Sequence[str] = (FROM_HASH,)) -> None:
    """`SESSIONS` sessions, of `contacts` in turn, each with a lead of its own."""
    rng = random.Random(seed)
    projection = SessionsProjection()
    for number in range(SESSIONS):
        session, lead = history(rng, number, contacts[number % len(contacts)])
        envelopes = stamped(lead, f"lead-l{number:02d}", NOW)
        terms = LeadTermsProjection()
        state, writes = terms.fold({}, parsed(envelopes))
        snapshots.commit(terms.name, 1, f"lead-l{number:02d}", 0,
                         Position(len(envelopes), state), writes)  # fmt: skip
        start = NOW + timedelta(minutes=rng.randrange(10_000))
        for stream_id, events in ((f"session-s{number:02d}", session),
                                  (f"lead-l{number:02d}", lead)):  # fmt: skip
            envelopes = stamped(events, stream_id, start)
            state, writes = projection.fold({}, parsed(envelopes))
            position = Position(len(envelopes), state)
            snapshots.commit(projection.name, 1, stream_id, 0, position, writes)


@pytest.fixture
def inbox(backend: Backend) -> Iterator[SnapshotStore]:
    snapshots = open_snapshots(backend)
    project(snapshots, seed=7)
    yield snapshots
    snapshots.close()


def no_names(from_hash: str) -> str | None:
    return None


def walked(snapshots: SnapshotStore, filters: dict[str, Any], limit: int, **how: Any) -> list[str]:
    found: list[str] = []
    cursor: str | None = None
    while True:
        page = reading.list_sessions(snapshots, no_names, filters, limit, cursor, **how)
        assert len(page.items) <= limit
        found += [item.session_id for item in page.items]
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def whole(snapshots: SnapshotStore) -> list[dict[str, Any]]:
    return snapshots.query("sessions", limit=200).documents


def at(doc: dict[str, Any], field: str) -> float:
    return datetime.fromisoformat(doc[field]).timestamp()


def waiting_order(doc: dict[str, Any]) -> tuple[int, float, str]:
    """The spec of `waiting`: those waiting, the longest first; then the open ones, then
    the closed ones, the latest active first."""
    if doc["waiting_since"] is not None:
        return 0, at(doc, "waiting_since"), doc["id"]
    latest = at(doc, "last_message_at" if doc["last_message_at"] else "started_at")
    return (2 if doc["closed"] else 1), -latest, doc["id"]


def matches(doc: dict[str, Any], filters: dict[str, Any], assignee: AssigneeFilter) -> bool:
    if any(doc.get(field) != value for field, value in filters.items() if value is not None):
        return False
    if assignee is AssigneeFilter.MINE:
        return bool(doc["human_assignee"] == "ana")
    return assignee is not AssigneeFilter.UNASSIGNED or doc["human_assignee"] is None


def expected(
    docs: list[dict[str, Any]], filters: dict[str, Any], sort: SessionSort, assignee: AssigneeFilter
) -> list[str]:
    kept = [doc for doc in docs if matches(doc, filters, assignee)]
    if sort is SessionSort.LATEST:
        kept.sort(key=lambda doc: (doc["updated_at"], doc["id"]), reverse=True)
    elif sort is SessionSort.WAITING:
        kept.sort(key=waiting_order)
    else:
        kept.sort(key=lambda doc: (not doc["ready_for_human"], *waiting_order(doc)))
    return [doc["id"] for doc in kept]


FILTERS: list[dict[str, Any]] = [
    {},
    {"closed": False},
    {"closed": True},
    {"ready_for_human": True},
    {"mode": "HUMAN_TAKEOVER", "closed": False},
    {"lead_status": "READY_FOR_HUMAN"},
]


@pytest.mark.parametrize("sort", list(SessionSort))
@pytest.mark.parametrize("assignee", list(AssigneeFilter))
def test_every_filter_and_sort_pages_through_exactly_the_matching_sessions(
    inbox: SnapshotStore, sort: SessionSort, assignee: AssigneeFilter
) -> None:
    docs = whole(inbox)
    assert len(docs) == SESSIONS
    assert any(doc["waiting_since"] for doc in docs)
    assert any(doc["closed"] for doc in docs)
    for filters in FILTERS:
        want = expected(docs, filters, sort, assignee)
        for limit in (1, 4, 50):
            got = walked(inbox, filters, limit, sort=sort, assignee=assignee, operator="ana")
            assert got == want, (filters, limit)


def test_the_inbox_counts_are_those_of_the_documents(inbox: SnapshotStore) -> None:
    docs = [doc for doc in whole(inbox) if not doc["closed"]]

    counts = reading.inbox_counts(inbox, "ana")

    assert counts.ready_for_human == sum(1 for doc in docs if doc["ready_for_human"])
    assert counts.mine == sum(1 for doc in docs if doc["human_assignee"] == "ana")
    assert counts.waiting_unassigned == sum(
        1 for doc in docs if doc["human_assignee"] is None and doc["waiting_since"]
    )
    assert min(counts.ready_for_human, counts.mine, counts.waiting_unassigned) > 0


def test_a_cursor_of_another_sort_is_refused(inbox: SnapshotStore) -> None:
    latest = reading.list_sessions(inbox, no_names, {}, 1, None)
    priority = reading.list_sessions(inbox, no_names, {}, 1, None, sort=SessionSort.PRIORITY)
    assert latest.next_cursor is not None
    assert priority.next_cursor is not None

    for cursor, sort in [(latest.next_cursor, SessionSort.PRIORITY),
                         (priority.next_cursor, SessionSort.WAITING),
                         (priority.next_cursor, SessionSort.LATEST),
                         ('{"phase": 7, "after": null}', SessionSort.PRIORITY),
                         ('{"phase": true, "after": null}', SessionSort.PRIORITY),
                         ('{"phase": 0, "after": 3}', SessionSort.PRIORITY)]:  # fmt: skip
        with pytest.raises(InvalidCursor):
            reading.list_sessions(inbox, no_names, {}, 1, cursor, sort=sort)


class Recording:
    """A snapshot store that notes the shape of every query: (collection, equality
    fields, order field, descending)."""

    def __init__(self, snapshots: SnapshotStore) -> None:
        self._snapshots = snapshots
        self.shapes: set[tuple[str, frozenset[str], str, bool]] = set()

    def query(self, collection: str, where: Sequence[Where] = (), order_by: str = "id",
              descending: bool = False, **rest: Any) -> Page:  # fmt: skip
        equal = frozenset(w.field for w in where if w.op == "==")
        self.shapes.add((collection, equal, order_by, descending))
        return self._snapshots.query(collection, where, order_by, descending, **rest)

    def count(self, collection: str, where: Sequence[Where] = ()) -> int:
        equal = frozenset(w.field for w in where if w.op == "==")
        ranged = next((w.field for w in where if w.op != "=="), "id")
        self.shapes.add((collection, equal, ranged, False))
        return self._snapshots.count(collection, where)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._snapshots, name)


def test_firestore_indexes_json_serves_every_inbox_query(inbox: SnapshotStore) -> None:
    """Firestore needs a composite index per equality filter and order (it merges them
    for several equalities); the emulator does not enforce them, so this does."""
    recording = Recording(inbox)
    store = cast(SnapshotStore, recording)
    for sort in SessionSort:
        for assignee in AssigneeFilter:
            for filters in [*FILTERS, {"state": "ACTIVE", "mode": "LLM_ACTIVE"}]:
                walked(store, filters, 5, sort=sort, assignee=assignee, operator="ana")
                how: dict[str, Any] = {"sort": sort, "assignee": assignee, "operator": "ana"}
                reading.list_sessions(
                    store, no_names, filters, 5, None, contacts=[FROM_HASH], **how
                )
    reading.inbox_counts(store, "ana")
    declared = json.loads((Path(__file__).parents[2] / "firestore.indexes.json").read_text())
    indexes = {
        (index["collectionGroup"], tuple((f["fieldPath"], f["order"]) for f in index["fields"]))
        for index in declared["indexes"]
    }
    for collection, equal, order_by, descending in recording.shapes:
        direction = "DESCENDING" if descending else "ASCENDING"
        for field in equal if order_by != "id" else ():
            needed = ((f"f.{field}", "ASCENDING"), (f"f.{order_by}", direction))
            assert (collection, needed) in indexes, (collection, field, order_by, direction)
    assert len(recording.shapes) > 10


@pytest.mark.parametrize(
    ("where", "descending"),
    [
        ([Where("human_assignee", "==", "ana")], False),
        ([Where("human_assignee", "==", None)], False),
        ([Where("ready_for_human", "==", True), Where("wait_rank", "<", OPEN_END)], False),
        ([Where("mode", "==", "LLM_ACTIVE"), Where("ready_for_human", "==", False)], False),
        ([Where("closed", "==", False)], True),
    ],
    ids=["mine", "unassigned", "ready and open", "two equalities", "open, latest"],
)
def test_sqlite_walks_an_equality_and_an_order_on_one_index_without_sorting(
    tmp_path: Path, where: list[Where], descending: bool
) -> None:
    """The inbox's pages cost their size on the embedded back end too: the equality
    filter's field and the order field share an index (as a Firestore composite index),
    so SQLite neither sorts the equality's matches nor reads past the page."""
    from adapters.sqlite.snapshots import _segments

    snapshots = open_snapshots(Backend("sqlite", sqlite_path=str(tmp_path / "plan.db")))
    order_by = "updated_at" if descending else "wait_rank"
    try:
        project(snapshots, seed=3)
        snapshots.query("sessions", where, order_by=order_by, descending=descending)
        page = snapshots.query("sessions", where, order_by=order_by, descending=descending,
                               limit=1)  # fmt: skip
        after = None if page.cursor is None else json.loads(page.cursor)["after"]
        with closing(sqlite3.connect(tmp_path / "plan.db")) as connection:
            for first in (None, after):
                for sql, params in _segments(where, order_by, descending, first):
                    plan = connection.execute(
                        f"EXPLAIN QUERY PLAN {sql}", ["sessions", "sessions", *params, 2]
                    ).fetchall()
                    steps = " / ".join(str(row[-1]) for row in plan)
                    assert "TEMP B-TREE" not in steps, steps
    finally:
        snapshots.close()


NAMES = ["Maria Souza", "Márcio Lima", "Ana Maria Prado", "João Pedro", "Beatriz"]


@pytest.fixture
def named(backend: Backend, vault: Vault) -> Iterator[tuple[SnapshotStore, Vault, list[str]]]:
    """Sessions of five named customers (several sessions each), and the vault."""
    contacts = [vault.remember(ContactIdentity(e164=f"+551199999000{n}", profile_name=name))
                for n, name in enumerate(NAMES)]  # fmt: skip
    snapshots = open_snapshots(backend)
    project(snapshots, seed=11, contacts=contacts)
    yield snapshots, vault, contacts
    snapshots.close()


@pytest.mark.parametrize("sort", list(SessionSort))
def test_a_search_finds_the_sessions_of_the_customers_so_named(
    named: tuple[SnapshotStore, Vault, list[str]], sort: SessionSort
) -> None:
    snapshots, vault, contacts = named
    docs = whole(snapshots)

    for text, who in [("maria", [0, 2]), ("mar", [0, 1, 2]), ("MARCIO", [1]),
                      ("maria prado", [2]), ("pedro", [3]), ("zé", [])]:  # fmt: skip
        hashes = {contacts[n] for n in who}
        for filters in ({}, {"closed": False}):
            found = reading.contacts_matching(vault, snapshots, text)
            page = reading.list_sessions(snapshots, no_names, filters, 50, None, sort=sort,
                                         contacts=found)  # fmt: skip
            of_them = [doc for doc in docs if doc["from_hash"] in hashes]
            assert [item.session_id for item in page.items] == expected(
                of_them, filters, sort, AssigneeFilter.ALL
            ), text
            assert page.next_cursor is None
    mar = reading.contacts_matching(vault, snapshots, "mar")
    first = reading.list_sessions(snapshots, no_names, {}, 2, None, sort=sort, contacts=mar)
    assert len(first.items) == 2


def test_a_forgotten_customer_is_found_by_no_search(
    named: tuple[SnapshotStore, Vault, list[str]],
) -> None:
    snapshots, vault, contacts = named

    vault.forget(contacts[0])

    found = reading.contacts_matching(vault, snapshots, "maria")
    page = reading.list_sessions(snapshots, no_names, {}, 50, None, contacts=found)
    assert {item.from_hash for item in page.items} == {contacts[2]}


def test_a_search_finds_the_customers_by_the_values_collected_for_their_lead(
    named: tuple[SnapshotStore, Vault, list[str]],
) -> None:
    """Session n's lead has city CITIES[n % 3] and is of contact n % 5; a word may match
    the name or the city."""
    snapshots, vault, contacts = named

    def of(cities: set[int], names: frozenset[int] = frozenset()) -> set[str]:
        leads = {n for n in range(SESSIONS) if n % len(CITIES) in cities}
        return {contacts[n % len(contacts)] for n in leads} | {contacts[n] for n in names}

    for text, expected in [("paulo", of({0})), ("paul", of({0, 2})), ("CAMPINAS", of({1})),
                           ("sao paulo", of({0})), ("ana", of(set(), frozenset({2}))),
                           ("campinas paulo", set()), ("recife", set())]:  # fmt: skip
        found = reading.contacts_matching(vault, snapshots, text)
        page = reading.list_sessions(snapshots, no_names, {}, 50, None, contacts=found)
        assert {item.from_hash for item in page.items} == expected, text
