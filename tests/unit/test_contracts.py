"""The event catalogue's promises: every event survives the store's JSON, shapes are
checked, models are frozen and strict, and no model can carry a phone number."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import contracts.snapshots
from contracts.commands import OperatorCommand, PauseAll, TakeOver
from contracts.content import Location, Reaction, ReplyContext
from contracts.envelope import EVENT_TYPES, Event
from contracts.events import (
    ControlChanged,
    LeadFieldCollected,
    MessageReceived,
    MessageStatusUpdated,
    OutboundFailed,
    SessionStarted,
)
from contracts.snapshots import LeadCollectedField, SessionControl, SystemControl
from contracts.vocabulary import FieldSource, LeadField, MessageStatus, MessageType
from tests.unit.event_examples import EXAMPLES, FROM_HASH, WAMID, record

CATALOGUE = {
    name: cls for name, cls in EVENT_TYPES.items() if cls.__module__.startswith("contracts.events")
}
COMMAND_CLASSES = typing.get_args(typing.get_args(OperatorCommand)[0])


# --- the catalogue -----------------------------------------------------------------


def test_every_event_type_has_an_example() -> None:
    assert {type(example) for example in EXAMPLES} == set(CATALOGUE.values())


def test_each_event_type_is_named_after_its_class() -> None:
    assert all(name == cls.__name__ for name, cls in CATALOGUE.items())


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_every_event_round_trips_through_the_stored_envelope(event: Event) -> None:
    envelope = record(event)

    assert (envelope.type, envelope.schema_version) == (event.TYPE, event.SCHEMA_VERSION)
    assert envelope.event() == event
    assert type(envelope.event()) is type(event)


HEX_HASH = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
TEXT = st.text(max_size=300)
MESSAGES = st.builds(
    MessageReceived,
    wa_message_ref=HEX_HASH,
    from_hash=HEX_HASH,
    type=st.sampled_from([t for t in MessageType if t is not MessageType.UNKNOWN]),
    body_sanitized=st.none() | TEXT,
    location=st.none()
    | st.builds(
        Location,
        latitude=st.floats(-90, 90),
        longitude=st.floats(-180, 180),
        name=st.none() | TEXT,
    ),
    contacts_count=st.none() | st.integers(0, 100),
    reaction=st.none()
    | st.builds(Reaction, message_ref=st.just(WAMID), emoji=st.none() | st.sampled_from("👍❤️😂")),
    context=st.none() | st.builds(ReplyContext, message_ref=st.none() | st.just(WAMID)),
    error_code=st.none() | st.integers(0, 10**6),
)


@given(MESSAGES)
def test_any_inbound_message_round_trips_through_the_stored_envelope(
    message: MessageReceived,
) -> None:
    assert record(message).event() == message


@given(st.floats(0, 1))
def test_any_confidence_in_the_unit_interval_is_kept_exactly(confidence: float) -> None:
    event = LeadFieldCollected(
        field=LeadField.CITY,
        value="Campinas",
        source=FieldSource.LLM,
        inferred=True,
        confidence=confidence,
        evidence_message_ref=WAMID,
    )
    assert record(event, "lead-l1").event() == event


@given(st.floats().filter(lambda f: not 0 <= f <= 1))
def test_a_confidence_outside_the_unit_interval_is_rejected(confidence: float) -> None:
    payload = {
        "field": "city",
        "value": "Campinas",
        "source": "LLM",
        "inferred": True,
        "confidence": confidence,
        "evidence_message_ref": WAMID,
    }
    with pytest.raises(ValidationError) as error:
        LeadFieldCollected.model_validate(payload)
    assert [e["loc"] for e in error.value.errors()] == [("confidence",)]


@pytest.mark.parametrize(
    ("model", "payload", "message"),
    [
        (
            MessageReceived,
            {"wa_message_ref": WAMID, "from_hash": FROM_HASH, "type": "unknown"},
            "original_type is set exactly when type is 'unknown'",
        ),
        (
            MessageReceived,
            {
                "wa_message_ref": WAMID,
                "from_hash": FROM_HASH,
                "type": "text",
                "original_type": "order",
            },
            "original_type is set exactly when type is 'unknown'",
        ),
        (
            ControlChanged,
            {"mode": "HUMAN_TAKEOVER", "reason": "x", "version": 1},
            "human_assignee is set exactly when mode is HUMAN_TAKEOVER",
        ),
        (
            ControlChanged,
            {"mode": "LLM_ACTIVE", "human_assignee": "ana", "reason": "x", "version": 1},
            "human_assignee is set exactly when mode is HUMAN_TAKEOVER",
        ),
        (
            LeadFieldCollected,
            {
                "field": "city",
                "value": "Campinas",
                "source": "USER",
                "inferred": True,
                "confidence": 1.0,
                "evidence_message_ref": WAMID,
            },
            "a value the user stated is not an inference",
        ),
        (
            LeadFieldCollected,
            {
                "field": "service_interest",
                "value": "WEBSITE",
                "source": "USER",
                "inferred": False,
                "confidence": 1.0,
                "evidence_message_ref": WAMID,
            },
            "service_interest must be one of",
        ),
    ],
)
def test_events_refuse_inconsistent_shapes(
    model: type[Event], payload: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        model.model_validate(payload)


def test_text_from_outside_is_clipped_while_an_operators_reason_is_checked() -> None:
    failed = OutboundFailed(outbound_id="o-1", error_code=100, reason="e" * 5000)
    message = MessageReceived(
        wa_message_ref=WAMID, from_hash=FROM_HASH, type=MessageType.TEXT, body_sanitized="b" * 9000
    )

    assert (len(failed.reason), len(message.body_sanitized or "")) == (1000, 8192)
    with pytest.raises(ValidationError, match="at most 500 characters"):
        PauseAll(reason="r" * 501)


def test_a_status_report_accepts_only_what_whatsapp_reports() -> None:
    base = {"outbound_id": "out-1", "wa_message_ref": WAMID}
    event = MessageStatusUpdated.model_validate({**base, "status": "READ"})
    assert event.status is MessageStatus.READ
    with pytest.raises(ValidationError):
        MessageStatusUpdated.model_validate({**base, "status": "PENDING"})


# --- frozen and strict -------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (EXAMPLES[0], "lead_id"),
        (TakeOver(target_session_id="s-1", reason="x"), "reason"),
        (SessionControl(session_id="s-1"), "version"),
        (SystemControl(), "mode"),
        (Location(latitude=0, longitude=0), "latitude"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseModel) else v,
)
def test_models_are_frozen(model: BaseModel, field: str) -> None:
    with pytest.raises(ValidationError, match="frozen"):
        setattr(model, field, getattr(model, field))


def test_unknown_keys_are_errors_not_silently_dropped() -> None:
    with pytest.raises(ValidationError) as error:
        SessionStarted.model_validate(
            {"lead_id": "l-1", "from_hash": FROM_HASH, "business_number_id": "1", "phone": "x"}
        )
    assert [(e["loc"], e["type"]) for e in error.value.errors()] == [
        (("phone",), "extra_forbidden")
    ]


# --- no phone number in clear (invariant 4) ----------------------------------------

PHONE_LIKE_NAME = re.compile(r"phone|e164|msisdn|wa_?id|mobile|telefone|celular", re.I)


def models_reachable_from(roots: list[type[BaseModel]]) -> Iterator[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    stack = list(roots)
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen.add(model)
        yield model
        for field in model.model_fields.values():
            stack.extend(nested_models(field.annotation))


def nested_models(annotation: object) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from nested_models(arg)


def admits_text(annotation: object) -> bool:
    if annotation is str:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return any(admits_text(arg) for arg in typing.get_args(annotation))
    return False


ALL_MODELS = list(
    models_reachable_from(
        [
            *CATALOGUE.values(),
            *COMMAND_CLASSES,
            *(getattr(contracts.snapshots, name) for name in contracts.snapshots.__all__),
        ]
    )
)


def test_the_walk_sees_nested_models_and_text_fields() -> None:
    assert {Location, ReplyContext, TakeOver, LeadCollectedField} <= set(ALL_MODELS)
    assert admits_text(MessageReceived.model_fields["body_sanitized"].annotation)
    assert not admits_text(MessageReceived.model_fields["contacts_count"].annotation)


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_no_model_has_a_field_that_could_hold_a_phone_number_in_clear(
    model: type[BaseModel],
) -> None:
    suspicious = [
        name
        for name, field in model.model_fields.items()
        for named in (name, field.alias or "", field.serialization_alias or "")
        if PHONE_LIKE_NAME.search(named)
        and "encrypted" not in named
        and admits_text(field.annotation)
    ]
    assert suspicious == []


@given(st.from_regex(r"\A\+?[1-9][0-9 ()-]{7,18}\Z"))
def test_a_phone_number_is_not_a_contact_hash(phone: str) -> None:
    with pytest.raises(ValidationError) as error:
        SessionStarted(lead_id="l-1", from_hash=phone, business_number_id="1")
    assert [e["loc"] for e in error.value.errors()] == [("from_hash",)]
