"""The console-session half of the OperatorDirectory contract: every adapter runs
these unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.credentials import mint_session_id
from contracts.operators import Role
from contracts.ports.operators import OperatorDirectory
from tests.backends import Backend
from tests.contract.test_operators import sha256, stored

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
IDLE = timedelta(minutes=30)


def test_a_session_opened_with_a_token_names_its_operator(directory: OperatorDirectory) -> None:
    token = directory.add("ana", Role.ADMIN)

    session_id = directory.open_session(token, NOW)

    assert session_id is not None
    assert session_id.startswith("sbs_")
    operator = directory.session(session_id, NOW, IDLE)
    assert operator is not None
    assert (operator.name, operator.role) == ("ana", Role.ADMIN)


@pytest.mark.parametrize("token", ["", "sb_", "nonsense", "sb_" + "A" * 43])
def test_a_token_that_opens_nothing_opens_no_session(
    directory: OperatorDirectory, token: str
) -> None:
    directory.add("ana", Role.ADMIN)

    assert directory.open_session(token, NOW) is None


def test_each_session_is_new_and_names_only_its_own_operator(
    directory: OperatorDirectory,
) -> None:
    ana, bia = directory.add("ana", Role.ADMIN), directory.add("bia", Role.OPERATOR)

    first, second = directory.open_session(ana, NOW), directory.open_session(ana, NOW)
    other = directory.open_session(bia, NOW)

    assert first
    assert second
    assert other
    assert len({first, second, other}) == 3
    names = [directory.session(s, NOW, IDLE) for s in (first, second, other)]
    assert [o.name if o else None for o in names] == ["ana", "ana", "bia"]


@pytest.mark.parametrize(
    "wrong",
    ["", "sbs_", "sb_" + "A" * 43, "sbs_" + "A" * 43],
    ids=["empty", "prefix", "a-token-shape", "never-opened"],
)
def test_an_unknown_session_names_no_one(directory: OperatorDirectory, wrong: str) -> None:
    token = directory.add("ana", Role.ADMIN)
    directory.open_session(token, NOW)

    assert directory.session(wrong, NOW, IDLE) is None
    directory.close_session(wrong)  # nothing to close: no error


def test_the_session_id_is_not_stored_in_clear(
    backend: Backend, directory: OperatorDirectory
) -> None:
    session_id = directory.open_session(directory.add("ana", Role.ADMIN), NOW)
    assert session_id is not None

    everything = stored(backend)

    assert sha256(session_id) in everything  # we are looking where the directory writes
    assert session_id not in everything
    assert session_id.removeprefix("sbs_") not in everything


def test_revoking_the_operator_ends_their_sessions_at_once(directory: OperatorDirectory) -> None:
    token = directory.add("ana", Role.OPERATOR)
    session_id = directory.open_session(token, NOW)
    other = directory.open_session(directory.add("bia", Role.OPERATOR), NOW)
    assert session_id
    assert other

    directory.revoke("ana")

    assert directory.session(session_id, NOW, IDLE) is None
    assert directory.open_session(token, NOW) is None
    assert directory.session(other, NOW, IDLE) is not None


def test_re_adding_a_revoked_name_does_not_revive_its_old_sessions(
    directory: OperatorDirectory,
) -> None:
    session_id = directory.open_session(directory.add("ana", Role.OPERATOR), NOW)
    assert session_id is not None
    directory.revoke("ana")

    fresh = directory.open_session(directory.add("ana", Role.ADMIN), NOW)

    assert directory.session(session_id, NOW, IDLE) is None
    assert fresh is not None
    assert directory.session(fresh, NOW, IDLE) is not None


def test_a_session_expires_after_being_idle_and_stays_expired(
    directory: OperatorDirectory,
) -> None:
    session_id = directory.open_session(directory.add("ana", Role.OPERATOR), NOW)
    assert session_id is not None

    assert directory.session(session_id, NOW + IDLE, IDLE) is not None
    assert directory.session(session_id, NOW + IDLE * 2 + timedelta(seconds=1), IDLE) is None
    assert directory.session(session_id, NOW + IDLE, IDLE) is None  # deleted, not just late


def test_each_use_moves_the_idle_deadline_unless_it_only_looks(
    directory: OperatorDirectory,
) -> None:
    session_id = directory.open_session(directory.add("ana", Role.OPERATOR), NOW)
    assert session_id is not None
    later = NOW + timedelta(minutes=20)

    assert directory.session(session_id, later, IDLE, touch=False) is not None
    assert directory.session(session_id, NOW + timedelta(minutes=31), IDLE, touch=False) is None

    touched = directory.open_session(directory.add("bia", Role.OPERATOR), NOW)
    assert touched is not None
    assert directory.session(touched, later, IDLE) is not None
    assert directory.session(touched, NOW + timedelta(minutes=45), IDLE) is not None


def test_closing_a_session_ends_only_that_session(directory: OperatorDirectory) -> None:
    token = directory.add("ana", Role.OPERATOR)
    first, second = directory.open_session(token, NOW), directory.open_session(token, NOW)
    assert first
    assert second

    directory.close_session(first)

    assert directory.session(first, NOW, IDLE) is None
    assert directory.session(second, NOW, IDLE) is not None
    assert directory.authenticate(token) is not None


def test_a_minted_id_that_was_never_opened_names_no_one(directory: OperatorDirectory) -> None:
    directory.open_session(directory.add("ana", Role.OPERATOR), NOW)

    assert directory.session(mint_session_id()[0], NOW, IDLE) is None
