"""The EventStore contract: every adapter runs these unchanged."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from contracts.envelope import Actor, NewEvent
from contracts.ports.eventstore import (
    ConcurrencyError,
    EventIdConflict,
    EventStore,
    StreamTransaction,
)
from contracts.streams import InvalidStreamId
from contracts.upcasting import upcaster
from tests.backends import Backend

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def new_event(
    n: int = 0,
    *,
    event_id: str | None = None,
    type_: str = "TestHappened",
    schema_version: int = 1,
    occurred_at: datetime = NOW,
    **payload: object,
) -> NewEvent:
    return NewEvent(
        event_id=event_id or str(uuid.uuid4()),
        type=type_,
        schema_version=schema_version,
        occurred_at=occurred_at,
        correlation_id="corr-1",
        causation_id="cause-1",
        actor=Actor.SYSTEM,
        payload={"n": n, **payload},
    )


def test_a_new_stream_is_empty_at_version_zero(store: EventStore) -> None:
    assert store.version("session-empty") == 0
    assert store.read("session-empty") == []


def test_append_then_read_gives_the_events_in_order_with_their_envelope(
    store: EventStore,
) -> None:
    events = [new_event(n, text="olá ✓") for n in range(3)]

    appended = store.append("session-a", events, expected_version=0)

    read = store.read("session-a")
    assert read == list(appended.events)
    assert [e.version for e in read] == [1, 2, 3]
    assert [e.event_id for e in read] == [e.event_id for e in events]
    assert [e.payload for e in read] == [{"n": n, "text": "olá ✓"} for n in range(3)]
    first = read[0]
    assert (first.stream_id, first.type, first.schema_version) == ("session-a", "TestHappened", 1)
    assert (first.correlation_id, first.causation_id, first.actor) == (
        "corr-1",
        "cause-1",
        Actor.SYSTEM,
    )
    assert first.occurred_at == NOW
    assert first.recorded_at.tzinfo is not None
    assert not appended.duplicate
    assert store.version("session-a") == 3
    assert [e.version for e in store.read("session-a", from_version=2)] == [2, 3]


@pytest.mark.parametrize("expected_version", [0, 1, 3])
def test_a_wrong_expected_version_raises_and_writes_nothing(
    store: EventStore, expected_version: int
) -> None:
    store.append("session-a", [new_event(1), new_event(2)], expected_version=0)

    with pytest.raises(ConcurrencyError) as raised:
        store.append("session-a", [new_event(3), new_event(4)], expected_version=expected_version)

    assert raised.value.stream_id == "session-a"
    assert raised.value.expected_version == expected_version
    assert [e.payload["n"] for e in store.read("session-a")] == [1, 2]


def test_times_come_back_in_utc_whatever_offset_they_were_written_with(
    store: EventStore,
) -> None:
    """So that "per day" is the same day on every back end."""
    written = datetime(2026, 11, 25, 22, 30, tzinfo=timezone(timedelta(hours=-3)))

    appended = store.append("session-a", [new_event(occurred_at=written)], expected_version=0)

    for event in (appended.events[0], store.read("session-a")[0], store.read_all().events[0]):
        assert event.occurred_at == written
        assert event.occurred_at.tzinfo is UTC
        assert event.occurred_at.isoformat() == "2026-11-26T01:30:00+00:00"
        assert event.occurred_at.date() == date(2026, 11, 26)
        assert event.recorded_at.tzinfo is UTC


def test_a_negative_expected_version_is_refused_and_writes_nothing(store: EventStore) -> None:
    with pytest.raises(ValueError, match="expected_version must be >= 0"):
        store.append("session-a", [new_event()], expected_version=-1)
    with pytest.raises(ValueError, match="expected_version must be >= 0"):
        store.transact(lambda tx: tx.append("session-a", [new_event()], expected_version=-1))

    assert store.read("session-a") == []
    assert store.version("session-a") == 0


def test_a_transaction_needs_at_least_one_attempt(store: EventStore) -> None:
    with pytest.raises(ValueError, match="attempts"):
        store.transact(lambda tx: tx.read("session-a"), attempts=0)


def test_appending_the_same_events_again_is_a_no_op(store: EventStore) -> None:
    events = [new_event(1), new_event(2)]
    first = store.append("session-a", events, expected_version=0)

    again = store.append("session-a", events, expected_version=0)

    assert again.duplicate
    assert again.events == first.events
    assert store.version("session-a") == 2


def test_a_redelivered_input_is_a_no_op_even_after_the_stream_moved_on(
    store: EventStore,
) -> None:
    reply = [new_event(1, event_id="input-7/reply")]
    store.append("session-a", reply, expected_version=0)
    store.append("session-a", [new_event(2)], expected_version=1)

    again = store.append("session-a", reply, expected_version=2)

    assert again.duplicate
    assert [e.version for e in again.events] == [1]
    assert store.version("session-a") == 2


def test_an_event_id_recorded_in_another_stream_conflicts(store: EventStore) -> None:
    store.append("session-a", [new_event(1, event_id="same-id")], expected_version=0)

    with pytest.raises(EventIdConflict):
        store.append("session-b", [new_event(1, event_id="same-id")], expected_version=0)

    assert store.read("session-b") == []


def test_a_batch_only_partly_recorded_conflicts_and_writes_nothing(store: EventStore) -> None:
    recorded = new_event(1)
    store.append("session-a", [recorded], expected_version=0)

    with pytest.raises(EventIdConflict):
        store.append("session-a", [recorded, new_event(2)], expected_version=1)

    assert store.version("session-a") == 1


def test_an_invalid_stream_id_is_refused_for_writes_and_reads(store: EventStore) -> None:
    with pytest.raises(InvalidStreamId):
        store.append("session/../x", [new_event()], expected_version=0)
    with pytest.raises(InvalidStreamId):
        store.read("session:1")
    with pytest.raises(InvalidStreamId):
        store.version("Session-1")
    with pytest.raises(InvalidStreamId):
        store.transact(lambda tx: tx.read("session/1"))


def test_an_empty_append_and_an_empty_page_are_refused(store: EventStore) -> None:
    with pytest.raises(ValueError, match="nothing to append"):
        store.append("session-a", [], expected_version=0)
    with pytest.raises(ValueError, match="nothing to append"):
        store.transact(lambda tx: tx.append("session-a", [], expected_version=0))
    with pytest.raises(ValueError, match="limit"):
        store.read_all(limit=0)


def test_awkward_payloads_come_back_exactly(store: EventStore) -> None:
    """JSON the domain may produce, including shapes some document stores refuse."""
    payloads = [
        {"nested": [[1, [2]], []], "big": 2**64, "neg": -(2**63), "float": 0.1},
        {"": "empty key", "__x__": "reserved-looking key", "a.b": "dotted", "a/b": "slash"},
        {"text": 'olá 👋 \u0000 \n "quoted"', "none": None, "bool": False, "empty": {}},
    ]
    store.append("lead-a", [new_event(n, blob=p) for n, p in enumerate(payloads)], 0)

    assert [e.payload["blob"] for e in store.read("lead-a")] == payloads


def test_a_transaction_reads_its_own_appends(store: EventStore) -> None:
    store.append("session-a", [new_event(0)], expected_version=0)

    def append_then_read(tx: StreamTransaction) -> list[int]:
        tx.append("session-a", [new_event(1)], expected_version=1)
        return [e.version for e in tx.read("session-a")]

    assert store.transact(append_then_read).value == [1, 2]


def test_eight_threads_on_one_stream_win_each_version_exactly_once(store: EventStore) -> None:
    writers, per_writer = 8, 12
    won: list[tuple[str, int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(writer: int) -> None:
        try:
            start.wait()
            for n in range(per_writer):
                event = new_event(n, writer=writer)
                while True:
                    version = store.version("session-hot")
                    try:
                        appended = store.append("session-hot", [event], expected_version=version)
                    except ConcurrencyError:
                        continue
                    won.append((event.event_id, appended.last_version))
                    break
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    stream = store.read("session-hot")
    assert [e.version for e in stream] == list(range(1, writers * per_writer + 1))
    assert sorted((e.event_id, e.version) for e in stream) == sorted(won)
    assert len({e.event_id for e in stream}) == writers * per_writer


def test_a_transaction_appends_to_several_streams_together(store: EventStore) -> None:
    store.append("system", [new_event(0, mode="LLM_ACTIVE")], expected_version=0)

    def claim(tx: StreamTransaction) -> int:
        system = tx.read("system")
        session = tx.read("session-a")
        tx.append("session-a", [new_event(1)], expected_version=len(session))
        tx.append("lead-a", [new_event(2)], expected_version=0)
        return len(system)

    committed = store.transact(claim)

    assert committed.value == 1
    assert {a.stream_id: a.last_version for a in committed.appended} == {
        "session-a": 1,
        "lead-a": 1,
    }
    assert store.version("session-a") == 1
    assert store.version("lead-a") == 1


def test_a_transaction_whose_second_precondition_fails_writes_nothing(
    store: EventStore,
) -> None:
    store.append("lead-a", [new_event(0)], expected_version=0)

    def claim(tx: StreamTransaction) -> None:
        tx.append("session-a", [new_event(1)], expected_version=0)
        tx.append("lead-a", [new_event(2)], expected_version=0)

    with pytest.raises(ConcurrencyError):
        store.transact(claim)

    assert store.read("session-a") == []
    assert store.version("lead-a") == 1


@pytest.mark.parametrize("reads_another_stream", [False, True], ids=["appends", "reads-too"])
def test_a_conflict_found_only_at_commit_writes_nothing(
    store: EventStore, reads_another_stream: bool
) -> None:
    """Another writer takes session-b:1 after `fn` staged its appends to session-a and
    session-b, before the commit. Either the transaction committed first (SQLite: the
    writer waits for it, then finds session-b taken), or none of it is visible."""
    store.append("system", [new_event(0)], expected_version=0)
    other: list[BaseException | None] = []

    def take_b() -> None:
        try:
            store.append("session-b", [new_event(9, event_id="other")], expected_version=0)
        except ConcurrencyError as error:
            other.append(error)
        else:
            other.append(None)

    writer = threading.Thread(target=take_b)

    def claim(tx: StreamTransaction) -> None:
        if reads_another_stream:  # on Firestore, the commit is then a transaction
            tx.read("system")
        tx.append("session-a", [new_event(1, event_id="tx-a")], expected_version=0)
        tx.append("session-b", [new_event(2, event_id="tx-b")], expected_version=0)
        writer.start()
        writer.join(timeout=1.0)  # SQLite serialises writers: the writer waits for us

    try:
        store.transact(claim, attempts=1)
    except ConcurrencyError:
        committed = False
    else:
        committed = True
    writer.join()

    a = [e.event_id for e in store.read("session-a")]
    b = [e.event_id for e in store.read("session-b")]
    if committed:
        assert (a, b) == (["tx-a"], ["tx-b"])
        assert isinstance(other[0], ConcurrencyError)
    else:
        assert (a, b) == ([], ["other"])
        assert other == [None]


def test_a_transaction_that_appends_a_duplicate_records_it_as_such(store: EventStore) -> None:
    event = new_event(1, event_id="claim-1")
    store.append("session-a", [event], expected_version=0)

    committed = store.transact(lambda tx: tx.append("session-a", [event], expected_version=1))

    assert [a.duplicate for a in committed.appended] == [True]
    assert store.version("session-a") == 1


def test_a_transaction_never_commits_on_a_stale_read(store: EventStore) -> None:
    """A gate reads `system` and appends to a session. If the kill switch lands while
    the gate decides, the gate must either run again and see it, or commit first."""
    store.append("system", [new_event(0)], expected_version=0)
    pause_returned_at: list[float] = []

    def pause() -> None:
        store.append("system", [new_event(1, mode="PAUSED")], expected_version=1)
        pause_returned_at.append(time.monotonic())

    pauser = threading.Thread(target=pause)
    attempts: list[tuple[int, float]] = []

    def gate(tx: StreamTransaction) -> int:
        seen = len(tx.read("system"))
        if not attempts:
            pauser.start()
            pauser.join(timeout=1.0)  # SQLite serialises writers: the pause waits for us
        tx.append("session-a", [new_event(seen, event_id="claim")], expected_version=0)
        attempts.append((seen, time.monotonic()))
        return seen

    committed = store.transact(gate)
    pauser.join()

    seen, last_attempt_ended = attempts[-1]
    assert committed.value == seen
    if seen == 1:  # decided before the pause: the pause must not have committed yet
        assert pause_returned_at[0] > last_attempt_ended
    assert store.version("system") == 2
    assert store.version("session-a") == 1


def test_a_transaction_with_a_stale_expected_version_fails_at_once(store: EventStore) -> None:
    store.append("session-a", [new_event(0)], expected_version=0)
    runs: list[int] = []

    def stale(tx: StreamTransaction) -> None:
        runs.append(1)
        tx.append("session-a", [new_event(1)], expected_version=0)

    with pytest.raises(ConcurrencyError):
        store.transact(stale)
    assert len(runs) == 1


def test_read_all_pages_through_every_event_once_stream_by_stream(store: EventStore) -> None:
    expected: dict[str, int] = {}
    for s in range(23):
        stream = f"session-{s}"
        count = s % 4 + 1
        store.append(stream, [new_event(n) for n in range(count)], expected_version=0)
        expected[stream] = count

    seen: dict[str, list[int]] = {}
    cursor: str | None = None
    pages = 0
    while True:
        page = store.read_all(cursor, limit=7)
        pages += 1
        assert len(page.events) <= 7
        for event in page.events:
            seen.setdefault(event.stream_id, []).append(event.version)
        if page.cursor is None:
            break
        cursor = page.cursor

    assert seen == {stream: list(range(1, n + 1)) for stream, n in expected.items()}
    assert pages >= sum(expected.values()) // 7


def test_count_is_every_event_duplicates_not_counted_twice(store: EventStore) -> None:
    assert store.count() == 0
    store.append("session-a", [new_event(0), new_event(1)], expected_version=0)
    again = new_event(2, event_id="once")
    store.append("lead-b", [again], expected_version=0)
    store.append("lead-b", [again], expected_version=0)  # a redelivery: a no-op

    assert store.count() == 3


def test_old_schema_versions_are_upcast_on_read_and_never_rewritten(store: EventStore) -> None:
    event_type = f"TestRenamed{uuid.uuid4().hex}"

    @upcaster(event_type, from_version=1)
    def rename(payload: dict[str, object]) -> dict[str, object]:
        return {"full_name": payload["name"]}

    store.append(
        "lead-a", [new_event(type_=event_type, event_id="old", name="Ana")], expected_version=0
    )
    store.append(
        "lead-a",
        [
            NewEvent(
                **{
                    **new_event(event_id="new").model_dump(),
                    "type": event_type,
                    "schema_version": 2,
                    "payload": {"full_name": "Bia"},
                }
            )
        ],
        expected_version=1,
    )

    old, new = store.read("lead-a")
    assert (old.schema_version, old.payload) == (2, {"full_name": "Ana"})
    assert (new.schema_version, new.payload) == (2, {"full_name": "Bia"})
    assert [e.schema_version for e in store.read_all().events] == [2, 2]


def test_an_acknowledged_append_survives_kill_9(backend: Backend) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.contract.child", backend.to_json(), "append"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acknowledged: list[str] = []
    deadline = time.monotonic() + 60
    while len(acknowledged) < 40 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        acknowledged.append(line.strip())
    child.send_signal(signal.SIGKILL)
    child.wait()

    assert len(acknowledged) == 40
    reopened = backend.event_store()
    try:
        recorded = {e.event_id for e in reopened.read("session-crash")}
    finally:
        reopened.close()
    assert set(acknowledged) <= recorded
