"""The SQLite codec builds envelopes without validating again; they must be
indistinguishable from the ones pydantic builds, times in UTC included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from adapters.sqlite.codec import recorded, to_envelope, to_row
from contracts.envelope import Actor, EventEnvelope, NewEvent


def test_an_envelope_read_back_equals_one_pydantic_validates() -> None:
    event = NewEvent(
        event_id="e-1", type="TestHappened", schema_version=1,
        occurred_at=datetime(2026, 11, 25, 9, 30, tzinfo=timezone(timedelta(hours=-3))),
        correlation_id="c-1", causation_id=None, actor=Actor.HUMAN,
        payload={"text": "olá", "nested": {"n": [1, 2.5, None]}},
    )  # fmt: skip
    at = datetime(2026, 11, 25, 12, 31, 5, 123456, tzinfo=UTC)

    from_row = to_envelope(to_row("session-x", 3, event, at))
    just_written = recorded("session-x", 3, event, at)
    validated = EventEnvelope.model_validate(
        {**event.model_dump(), "stream_id": "session-x", "version": 3, "recorded_at": at}
    )

    for built in (from_row, just_written):
        assert built == validated
        assert built.model_dump() == validated.model_dump()
        assert built.model_dump_json() == validated.model_dump_json()
        assert built.model_fields_set == validated.model_fields_set
        assert hash(built.actor) == hash(Actor.HUMAN)
    assert from_row.occurred_at.tzinfo is UTC
    assert from_row.occurred_at.isoformat() == "2026-11-25T12:30:00+00:00"


@pytest.mark.parametrize("stored", ["2026-11-25T09:30:00-03:00", "2026-11-25T12:30:00+00:00"])
def test_a_row_written_with_any_offset_reads_back_in_utc(stored: str) -> None:
    """Rows written before envelopes held UTC keep the offset they were written with."""
    event = NewEvent(
        event_id="e-1", type="TestHappened", schema_version=1,
        occurred_at=datetime(2026, 11, 25, 12, 30, tzinfo=UTC), correlation_id="c-1",
        actor=Actor.USER, payload={},
    )  # fmt: skip
    row = to_row("session-x", 1, event, datetime(2026, 11, 25, 12, 31, tzinfo=UTC))
    old_row = (*row[:5], stored, stored, *row[7:])

    envelope = to_envelope(old_row)

    for at in (envelope.occurred_at, envelope.recorded_at):
        assert at.tzinfo is UTC
        assert at.isoformat() == "2026-11-25T12:30:00+00:00"
