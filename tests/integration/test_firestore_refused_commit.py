"""A commit Firestore refuses for a reason other than a race (here a database in
Datastore mode, which answers `FailedPrecondition`) must surface as that error, not
be reported as a `ConcurrencyError` the caller would retry forever."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from google.api_core.exceptions import FailedPrecondition
from google.cloud import firestore

from adapters.firestore.codec import Document
from adapters.firestore.eventstore import FirestoreEventStore
from contracts.envelope import Actor, NewEvent
from tests.backends import GCP_TEST_PROJECT
from tests.emulators import Emulators

pytestmark = pytest.mark.gcp


class DatastoreMode(FirestoreEventStore):
    """Refuses every commit as a database in Datastore mode does."""

    def _commit(self, guards: list[str], documents: list[Document]) -> None:
        raise FailedPrecondition(  # type: ignore[no-untyped-call]
            "The Cloud Firestore API is not available for Firestore in Datastore Mode "
            f"database projects/{GCP_TEST_PROJECT}/databases/(default)."
        )


@pytest.fixture
def client(emulators: Emulators) -> firestore.Client:
    emulators.reset_firestore(GCP_TEST_PROJECT)
    return firestore.Client(project=GCP_TEST_PROJECT)


def new_event() -> NewEvent:
    return NewEvent(
        event_id=str(uuid.uuid4()), type="TestHappened", schema_version=1,
        occurred_at=datetime.now(UTC), correlation_id="c", actor=Actor.SYSTEM, payload={},
    )  # fmt: skip


def test_a_commit_refused_for_no_race_is_not_a_lost_race(client: firestore.Client) -> None:
    store = DatastoreMode(client)

    with pytest.raises(FailedPrecondition):
        store.append("session-a", [new_event()], expected_version=0)
    with pytest.raises(FailedPrecondition):
        store.transact(lambda tx: tx.append("session-a", [new_event()], expected_version=0))
    store.close()
