"""Fixtures shared by every test: the emulators and one fixture per port, each
parametrised over every back end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.ports.bus import Bus
from contracts.ports.eventstore import EventStore
from contracts.ports.operators import OperatorDirectory
from contracts.ports.vault import Vault
from tests.backends import GCP_TEST_PROJECT, Backend
from tests.emulators import Emulators, EmulatorUnavailable, start

BACKENDS = ["sqlite", pytest.param("gcp", marks=pytest.mark.gcp)]


@pytest.fixture(scope="session")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulators]:
    """The Pub/Sub and Firestore emulators, started once for the session.

    Without gcloud the gcp tests are skipped, except under CI=true where a missing
    emulator must fail the run rather than pass it quietly."""
    try:
        started = start(tmp_path_factory.mktemp("emulators"))
    except EmulatorUnavailable as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the Google emulators are unavailable: {error}")
        pytest.skip(f"gcp back end not tested: {error}")
    saved = {key: os.environ.get(key) for key in started.env()}
    os.environ.update(started.env())
    yield started
    started.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """A fresh, empty back end: a new SQLite file, or the emulators reset."""
    if request.param == "sqlite":
        return Backend("sqlite", sqlite_path=str(tmp_path / "switchboard.db"), ack_deadline_s=2)
    emulators: Emulators = request.getfixturevalue("emulators")
    emulators.reset_firestore(GCP_TEST_PROJECT)
    return Backend(
        "gcp",
        pubsub_host=emulators.pubsub_host,
        firestore_host=emulators.firestore_host,
        ack_deadline_s=10,
    )


@pytest.fixture
def store(backend: Backend) -> Iterator[EventStore]:
    opened = backend.event_store()
    yield opened
    opened.close()


@pytest.fixture
def bus(backend: Backend) -> Iterator[Bus]:
    opened = backend.bus()
    yield opened
    opened.close()


@pytest.fixture
def directory(backend: Backend) -> OperatorDirectory:
    return backend.operators()


@pytest.fixture
def vault(backend: Backend) -> Iterator[Vault]:
    """A vault under the test keys (`tests.backends.VAULT_KEYS`)."""
    opened = backend.vault()
    yield opened
    close = getattr(opened, "close", None)  # the port has no close; the adapters do
    if callable(close):
        close()
