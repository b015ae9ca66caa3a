"""The OperatorDirectory contract: every adapter runs these unchanged."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest

from adapters.credentials import InvalidOperatorName, mint_token
from contracts.operators import Role
from contracts.ports.operators import OperatorDirectory, OperatorExists, UnknownOperator
from tests.backends import Backend

T = TypeVar("T")


def stored(backend: Backend) -> str:
    """Everything the back end holds, as text: the SQLite file with its WAL, or the path
    and fields of every Firestore document."""
    if backend.kind == "sqlite":
        path = Path(backend.sqlite_path)
        files = sorted(path.parent.glob(f"{path.name}*"))
        return b"".join(file.read_bytes() for file in files).decode("latin-1")
    from google.cloud import firestore

    client = firestore.Client(project=backend.project)
    found: list[str] = []
    collections = list(client.collections())
    while collections:
        for snapshot in collections.pop().stream():
            found.append(f"{snapshot.reference.path} {snapshot.to_dict()!r}")
            collections.extend(snapshot.reference.collections())
    return "\n".join(found)


def race(n: int, fn: Callable[[], T]) -> tuple[list[T], list[Exception]]:
    """Run `fn` in `n` threads released together; what they returned and raised."""
    barrier = threading.Barrier(n)
    results: list[T] = []
    errors: list[Exception] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(fn())
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def names(directory: OperatorDirectory) -> list[str]:
    return [operator.name for operator in directory.list()]


def test_a_new_directory_has_no_operators(directory: OperatorDirectory) -> None:
    assert directory.list() == []


@pytest.mark.parametrize("role", list(Role))
def test_add_returns_a_token_that_authenticates_as_that_operator(
    directory: OperatorDirectory, role: Role
) -> None:
    before = datetime.now(UTC)
    token = directory.add("ana", role)
    after = datetime.now(UTC)

    operator = directory.authenticate(token)

    assert token.startswith("sb_")
    assert operator is not None
    assert (operator.name, operator.role, operator.revoked_at) == ("ana", role, None)
    assert operator.is_admin is (role is Role.ADMIN)
    assert before <= operator.created_at <= after
    assert directory.list() == [operator]


def test_each_token_authenticates_only_its_own_operator(directory: OperatorDirectory) -> None:
    tokens = {name: directory.add(name, Role.OPERATOR) for name in ("ana", "bia", "caio")}

    found = {name: directory.authenticate(token) for name, token in tokens.items()}

    assert len(set(tokens.values())) == 3
    assert {name: o.name if o else None for name, o in found.items()} == {
        "ana": "ana",
        "bia": "bia",
        "caio": "caio",
    }


def test_the_token_is_not_stored_in_clear(backend: Backend, directory: OperatorDirectory) -> None:
    token = directory.add("ana", Role.ADMIN)
    digest = sha256(token)

    everything = stored(backend)

    assert digest in everything  # we are looking where the directory writes
    assert token not in everything
    assert token.removeprefix("sb_") not in everything


@pytest.mark.parametrize(
    "wrong",
    [
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: "sb_", id="prefix-only"),
        pytest.param(lambda t: t[:-1], id="truncated"),
        pytest.param(lambda t: t + "A", id="extended"),
        pytest.param(lambda t: t[:-1] + ("B" if t[-1] == "A" else "A"), id="last-char-changed"),
        pytest.param(lambda t: t.removeprefix("sb_"), id="without-prefix"),
        pytest.param(lambda t: f"Bearer {t}", id="with-scheme"),
        pytest.param(lambda t: f" {t}", id="leading-space"),
        pytest.param(sha256, id="digest"),
        pytest.param(lambda t: mint_token()[0], id="never-added"),
    ],
)
def test_a_wrong_token_authenticates_no_one(
    directory: OperatorDirectory, wrong: Callable[[str], str]
) -> None:
    token = directory.add("ana", Role.ADMIN)

    assert directory.authenticate(wrong(token)) is None
    assert directory.authenticate(token) is not None


def test_revoke_kills_the_token_and_list_shows_when(directory: OperatorDirectory) -> None:
    token = directory.add("ana", Role.ADMIN)
    other = directory.add("bia", Role.OPERATOR)
    created_at = directory.list()[0].created_at
    before = datetime.now(UTC)

    revoked = directory.revoke("ana")

    assert directory.authenticate(token) is None
    assert directory.authenticate(other) is not None
    assert revoked.revoked_at is not None
    assert before <= revoked.revoked_at <= datetime.now(UTC)
    assert (revoked.name, revoked.role, revoked.created_at) == ("ana", Role.ADMIN, created_at)
    listed = {operator.name: operator for operator in directory.list()}
    assert listed["ana"] == revoked
    assert listed["bia"].revoked_at is None


def test_list_has_every_operator_revoked_included_by_name(directory: OperatorDirectory) -> None:
    for name in ("caio", "Bia", "ana.s@acme", "ana", "Zeca"):
        directory.add(name, Role.OPERATOR)
    directory.revoke("caio")

    assert names(directory) == sorted(["caio", "Bia", "ana.s@acme", "ana", "Zeca"])


def test_adding_an_active_name_again_is_refused(directory: OperatorDirectory) -> None:
    token = directory.add("ana", Role.OPERATOR)

    with pytest.raises(OperatorExists, match="'ana' already exists"):
        directory.add("ana", Role.ADMIN)

    operator = directory.authenticate(token)
    assert operator is not None
    assert operator.role is Role.OPERATOR
    assert names(directory) == ["ana"]


def test_revoking_an_unknown_name_raises(directory: OperatorDirectory) -> None:
    directory.add("ana", Role.OPERATOR)

    with pytest.raises(UnknownOperator, match="'bia'"):
        directory.revoke("bia")
    with pytest.raises(UnknownOperator):
        directory.revoke("ANA")


@pytest.mark.parametrize("name", ["", "a/b", "operators/ana", "..", "a" * 65])
def test_revoking_a_name_that_cannot_exist_is_unknown(
    directory: OperatorDirectory, name: str
) -> None:
    with pytest.raises(UnknownOperator):
        directory.revoke(name)


def test_revoking_twice_raises_the_second_time(directory: OperatorDirectory) -> None:
    directory.add("ana", Role.OPERATOR)
    first = directory.revoke("ana")

    with pytest.raises(UnknownOperator):
        directory.revoke("ana")

    assert directory.list() == [first]


def test_a_revoked_name_can_be_added_again_and_the_old_token_stays_dead(
    directory: OperatorDirectory,
) -> None:
    old = directory.add("ana", Role.OPERATOR)
    directory.revoke("ana")

    new = directory.add("ana", Role.ADMIN)

    assert new != old
    assert directory.authenticate(old) is None
    operator = directory.authenticate(new)
    assert operator is not None
    assert (operator.name, operator.role, operator.revoked_at) == ("ana", Role.ADMIN, None)
    assert directory.list() == [operator]
    directory.revoke("ana")
    assert directory.authenticate(new) is None
    assert directory.authenticate(old) is None


@pytest.mark.parametrize(
    "name",
    ["", "a" * 65, "a b", "a/b", "a:b", ".", "..", ".hidden", "-rf", "__name__", "josé", "ana\n"],
)
def test_an_invalid_name_is_refused_with_the_rule(directory: OperatorDirectory, name: str) -> None:
    with pytest.raises(InvalidOperatorName, match=r"invalid operator name .*letters, digits"):
        directory.add(name, Role.OPERATOR)

    assert directory.list() == []


@pytest.mark.parametrize("name", ["a", "7", "a" * 64, "Ana.Silva-2_br@acme.com"])
def test_names_at_the_edges_of_the_rule_are_accepted(
    directory: OperatorDirectory, name: str
) -> None:
    token = directory.add(name, Role.OPERATOR)

    operator = directory.authenticate(token)

    assert operator is not None
    assert operator.name == name
    assert directory.revoke(name).name == name


@pytest.mark.parametrize("revoked_before", [False, True], ids=["new-name", "revoked-name"])
def test_of_concurrent_adds_of_one_name_exactly_one_wins(
    directory: OperatorDirectory, revoked_before: bool
) -> None:
    if revoked_before:
        directory.add("ana", Role.OPERATOR)
        directory.revoke("ana")

    tokens, errors = race(8, lambda: directory.add("ana", Role.ADMIN))

    assert len(tokens) == 1, errors
    assert len(errors) == 7
    assert all(isinstance(error, OperatorExists) for error in errors), errors
    winner = directory.authenticate(tokens[0])
    assert winner is not None
    assert directory.list() == [winner]


def test_of_concurrent_revokes_exactly_one_wins(directory: OperatorDirectory) -> None:
    token = directory.add("ana", Role.ADMIN)

    revoked, errors = race(8, lambda: directory.revoke("ana"))

    assert len(revoked) == 1, errors
    assert all(isinstance(error, UnknownOperator) for error in errors), errors
    assert len(errors) == 7
    assert directory.authenticate(token) is None
    assert directory.list() == [revoked[0]]
