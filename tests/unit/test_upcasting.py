"""Old event shapes are upgraded on read, never rewritten; the registry refuses
ambiguity (unknown types, a type declared twice)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.envelope import EVENT_TYPES, Event, EventEnvelope, UnknownEventType
from contracts.events import LeadFieldCollected
from contracts.upcasting import upcast, upcaster
from contracts.vocabulary import FieldSource, LeadField

FIXTURES = Path(__file__).parent.parent / "fixtures"
EVIDENCE = "ee8250fb76e094b34b471f13a73dbbe51d1ae142e9df59d7c0d31ec20f0a0a8e"


def stored(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def read(row: dict[str, Any]) -> EventEnvelope:
    """What every back end does with a stored row: upcast, then build the envelope."""
    version, payload = upcast(row["type"], row["schema_version"], row["payload"])
    return EventEnvelope.model_validate({**row, "schema_version": version, "payload": payload})


def test_a_stored_v1_lead_field_is_read_as_the_current_v2() -> None:
    row = stored("lead_field_collected_v1.json")

    envelope = read(row)

    assert LeadFieldCollected.SCHEMA_VERSION == envelope.schema_version == 2
    assert envelope.event() == LeadFieldCollected(
        field=LeadField.BUDGET_RANGE,
        value="R$ 20-50 mil",
        source=FieldSource.LLM,
        inferred=True,
        confidence=0.86,
        evidence_message_ref=EVIDENCE,
    )
    assert (envelope.event_id, envelope.stream_id, envelope.version) == (
        row["event_id"],
        row["stream_id"],
        row["version"],
    )
    assert envelope.occurred_at.isoformat() == "2025-11-02T16:45:10.120000+00:00"  # as UTC


def test_upcasting_leaves_the_stored_payload_as_it_was() -> None:
    row = stored("lead_field_collected_v1.json")
    before = copy.deepcopy(row)

    read(row)

    assert row == before


def test_the_v1_shape_is_not_valid_without_its_upcaster() -> None:
    with pytest.raises(ValueError, match="evidence"):
        LeadFieldCollected.model_validate(stored("lead_field_collected_v1.json")["payload"])


def test_a_current_payload_is_not_upcast() -> None:
    payload = {"field": "city", "value": "Recife", "source": "USER", "inferred": False}

    assert upcast("LeadFieldCollected", 2, payload) == (2, payload)


V1_PAYLOADS = st.fixed_dictionaries(
    {
        "field": st.sampled_from([f for f in LeadField if f is not LeadField.SERVICE_INTEREST]),
        "value": st.text(min_size=1, max_size=100).filter(lambda s: s.strip() == s != ""),
        "source": st.sampled_from(FieldSource),
        "confidence": st.floats(0, 1),
        "evidence": st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    }
)


@given(V1_PAYLOADS)
def test_any_v1_payload_becomes_a_valid_v2_that_marks_llm_values_inferred(
    v1: dict[str, Any],
) -> None:
    version, payload = upcast("LeadFieldCollected", 1, json.loads(json.dumps(v1)))
    event = LeadFieldCollected.model_validate(payload)

    assert version == 2
    assert event.inferred is (v1["source"] == FieldSource.LLM)
    assert event.evidence_message_ref == v1["evidence"]
    assert (event.field, event.value, event.confidence) == (
        v1["field"],
        v1["value"],
        v1["confidence"],
    )


def test_an_unknown_event_type_is_an_error_not_a_guess() -> None:
    row = {**stored("lead_field_collected_v1.json"), "type": "LeadTeleported"}

    envelope = read(row)

    assert envelope.schema_version == 1
    with pytest.raises(UnknownEventType, match="LeadTeleported"):
        envelope.event()


def test_an_event_type_cannot_be_declared_twice() -> None:
    with pytest.raises(TypeError, match="declared twice"):

        class Impostor(Event):
            TYPE = "LeadFieldCollected"

    assert EVENT_TYPES["LeadFieldCollected"] is LeadFieldCollected


def test_an_upcaster_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="exists already"):

        @upcaster("LeadFieldCollected", from_version=1)
        def again(payload: dict[str, Any]) -> dict[str, Any]:
            return payload
