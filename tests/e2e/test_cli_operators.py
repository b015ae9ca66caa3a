"""`switchboard operators` against a real embedded directory."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from adapters.sqlite.operators import SqliteOperatorDirectory
from app.cli import app
from contracts.operators import Role

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SWITCHBOARD_BACKEND", "embedded")
    return tmp_path


def directory(data_dir: Path) -> SqliteOperatorDirectory:
    return SqliteOperatorDirectory(data_dir / "switchboard.db")


def add(name: str, role: str = "operator") -> Result:
    return runner.invoke(app, ["operators", "add", name, "--role", role])


def test_add_prints_only_the_token_on_stdout_with_a_warning_on_stderr(data_dir: Path) -> None:
    result = add("ana", "admin")

    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert re.fullmatch(r"sb_[A-Za-z0-9_-]{43}", token)
    assert "will not be shown again" in " ".join(result.stderr.split())
    assert token not in result.stderr
    operator = directory(data_dir).authenticate(token)
    assert operator is not None
    assert (operator.name, operator.role) == ("ana", Role.ADMIN)


def test_add_defaults_to_the_operator_role(data_dir: Path) -> None:
    result = runner.invoke(app, ["operators", "add", "bia"])

    assert result.exit_code == 0, result.output
    operator = directory(data_dir).authenticate(result.stdout.strip())
    assert operator is not None
    assert operator.role is Role.OPERATOR


def test_list_shows_operators_and_revocations_but_never_tokens(data_dir: Path) -> None:
    tokens = [add("ana", "admin").stdout.strip(), add("bia").stdout.strip()]
    assert runner.invoke(app, ["operators", "revoke", "bia"]).exit_code == 0

    result = runner.invoke(app, ["operators", "list"])

    assert result.exit_code == 0, result.output
    date = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00"
    assert re.search(rf"ana\s+│\s+admin\s+│\s+{date}\s+│\s+│", result.output)
    assert re.search(rf"bia\s+│\s+operator\s+│\s+{date}\s+│\s+{date}\s+│", result.output)
    for token in tokens:
        assert token not in result.output
        assert token.removeprefix("sb_")[:12] not in result.output


def test_list_of_an_empty_directory_says_how_to_add(data_dir: Path) -> None:
    result = runner.invoke(app, ["operators", "list"])

    assert result.exit_code == 0, result.output
    assert "switchboard operators add" in result.output


def test_revoke_kills_the_token(data_dir: Path) -> None:
    token = add("ana").stdout.strip()

    result = runner.invoke(app, ["operators", "revoke", "ana"])

    assert result.exit_code == 0, result.output
    assert "revoked ana" in result.output
    assert directory(data_dir).authenticate(token) is None


def test_adding_an_active_name_again_fails_with_a_message(data_dir: Path) -> None:
    first = add("ana").stdout.strip()

    result = add("ana", "admin")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "operator 'ana' already exists; revoke it first" in result.stderr
    assert directory(data_dir).authenticate(first) is not None


def test_revoking_an_unknown_name_fails_with_a_message(data_dir: Path) -> None:
    result = runner.invoke(app, ["operators", "revoke", "nobody"])

    assert result.exit_code == 1
    assert "no active operator is named 'nobody'" in result.stderr


def test_an_invalid_name_fails_with_the_rule(data_dir: Path) -> None:
    result = add("ana silva")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "invalid operator name 'ana silva'" in result.stderr
    assert directory(data_dir).list() == []


def test_an_unknown_role_is_a_usage_error(data_dir: Path) -> None:
    result = add("ana", "root")

    assert result.exit_code == 2
    assert "root" in result.stderr
    assert directory(data_dir).list() == []
