"""A Firestore commit can land and its reply be lost. The store retries the call, the
retry is refused by the first commit, and that must not read as a lost race: the
transaction function must not run again on top of its own commit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from google.api_core.exceptions import DeadlineExceeded
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
