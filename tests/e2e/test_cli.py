"""The `switchboard` CLI against a real embedded store."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.sqlite.eventstore import SqliteEventStore
from app.cli import app
from contracts.envelope import Actor, NewEvent

runner = CliRunner()


def event(event_id: str, type_: str) -> NewEvent:
    return NewEvent(
        event_id=event_id,
        type=type_,
        schema_version=1,
        occurred_at=datetime(2026, 11, 25, tzinfo=UTC),
        correlation_id="c-1",
        actor=Actor.SYSTEM,
        payload={"mode": "PAUSED_GLOBAL"},
    )


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SWITCHBOARD_BACKEND", "embedded")
    store = SqliteEventStore(tmp_path / "switchboard.db")
    store.append(
        "system",
        [event("e1", "GlobalModeChanged"), event("e2", "GlobalModeChanged")],
        expected_version=0,
    )
    store.append("session-abc", [event("e3", "MessageReceived")], expected_version=0)
    store.close()
    return tmp_path


def test_events_show_prints_the_stream_in_order(data_dir: Path) -> None:
    result = runner.invoke(app, ["events", "show", "system", "--json"])

    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [(e["version"], e["event_id"]) for e in lines] == [(1, "e1"), (2, "e2")]


def test_events_show_of_an_unknown_stream_says_so_and_fails(data_dir: Path) -> None:
    result = runner.invoke(app, ["events", "show", "session-nobody"])

    assert result.exit_code == 1
    assert "has no events" in result.output


def test_events_stats_counts_by_type_and_stream_kind(data_dir: Path) -> None:
    result = runner.invoke(app, ["events", "stats"])

    assert result.exit_code == 0, result.output
    assert "3 events in 2 streams" in result.output
    assert "GlobalModeChanged" in result.output
    assert re.search(r"system\s+│\s+1\s+│\s+2\s+│", result.output)
    assert re.search(r"session\s+│\s+1\s+│\s+1\s+│", result.output)
    assert re.search(r"GlobalModeChanged\s+│\s+2\s+│", result.output)
