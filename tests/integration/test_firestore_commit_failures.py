"""How the Firestore store reads a commit that did not simply succeed.

- A commit can land and its reply be lost: the store retries, the retry is refused by
  the first commit, and that must not read as a lost race (the transaction function
  must not run again on top of its own commit).
- A commit refused for a reason other than a race (a database in Datastore mode
  answers `FailedPrecondition`) must surface as that error, not as a
  `ConcurrencyError` the caller would retry forever.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from google.api_core.exceptions import DeadlineExceeded, FailedPrecondition
from google.cloud import firestore

from adapters.firestore.codec import Document
from adapters.firestore.eventstore import FirestoreEventStore
from contracts.envelope import Actor, NewEvent
from contracts.ports.eventstore import StreamTransaction
from tests.backends import GCP_TEST_PROJECT
from tests.emulators import Emulators

pytestmark = pytest.mark.gcp


class LostReplies(FirestoreEventStore):
    """The first commit lands, then the client hears `DeadlineExceeded` instead of its
    reply, as when the connection drops on the way back."""

    commits = 0

    def _commit(self, guards: list[str], documents: list[Document]) -> None:
        self.commits += 1
        super()._commit(guards, documents)
        if self.commits == 1:
            raise DeadlineExceeded("the commit landed; its reply was lost")  # type: ignore[no-untyped-call]


@pytest.fixture
def client(emulators: Emulators) -> firestore.Client:
    emulators.reset_firestore(GCP_TEST_PROJECT)
    return firestore.Client(project=GCP_TEST_PROJECT)


def new_event() -> NewEvent:
    return NewEvent(
        event_id=str(uuid.uuid4()), type="TestHappened", schema_version=1,
        occurred_at=datetime.now(UTC), correlation_id="c", actor=Actor.SYSTEM, payload={},
    )  # fmt: skip


@pytest.mark.parametrize("reads_another_stream", [False, True], ids=["batch", "transaction"])
def test_a_commit_whose_reply_was_lost_is_the_transactions_commit(
    client: firestore.Client, reads_another_stream: bool
) -> None:
    FirestoreEventStore(client).append("system", [new_event()], expected_version=0)
    store = LostReplies(client)
    runs: list[int] = []

    def claim(tx: StreamTransaction) -> None:
        if reads_another_stream:  # the commit then guards `system` in a transaction
            tx.read("system")
        seen = len(tx.read("session-a"))
        runs.append(seen)
        tx.append("session-a", [new_event()], expected_version=seen)

    committed = store.transact(claim)

    assert store.commits == 2  # the one that landed, and its retry, refused
    assert runs == [0]
    recorded = store.read("session-a")
    assert [e.version for e in recorded] == [1]
    (appended,) = committed.appended
    assert (appended.events, appended.duplicate) == (tuple(recorded), False)
    store.close()


class DatastoreMode(FirestoreEventStore):
    """Refuses every commit as a database in Datastore mode does."""

    def _commit(self, guards: list[str], documents: list[Document]) -> None:
        raise FailedPrecondition(  # type: ignore[no-untyped-call]
            "The Cloud Firestore API is not available for Firestore in Datastore Mode "
            f"database projects/{GCP_TEST_PROJECT}/databases/(default)."
        )


def test_a_commit_refused_for_no_race_is_not_a_lost_race(client: firestore.Client) -> None:
    store = DatastoreMode(client)

    with pytest.raises(FailedPrecondition):
        store.append("session-a", [new_event()], expected_version=0)
    with pytest.raises(FailedPrecondition):
        store.transact(lambda tx: tx.append("session-a", [new_event()], expected_version=0))
    store.close()
