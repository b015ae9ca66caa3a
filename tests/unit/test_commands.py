"""Operator commands: parsed from JSON by the discriminated union, rejected field by
field, and kept whole inside their `CommandRequested` event."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from contracts.commands import (
    AddNote,
    Close,
    CommandType,
    ForgetContact,
    MarkReadyForHuman,
    OperatorCommand,
    PauseAll,
    Release,
    ResumeAll,
    SendMessage,
    TakeOver,
)
from contracts.events import CommandRequested
from contracts.vocabulary import Priority, SessionOutcome
from tests.unit.event_examples import NOW, record

COMMANDS: TypeAdapter[Any] = TypeAdapter(OperatorCommand)
COMMAND_CLASSES = typing.get_args(typing.get_args(OperatorCommand)[0])


VALID_COMMANDS: list[tuple[dict[str, object], type[BaseModel]]] = [
    ({"type": "TAKEOVER", "target_session_id": "s-1", "reason": "VIP"}, TakeOver),
    ({"type": "RELEASE", "target_session_id": "s-1", "reason": "done"}, Release),
    (
        {
            "type": "CLOSE",
            "target_session_id": "s-1",
            "reason": "resolvido",
            "outcome": "SELF_SERVE_INFO",
            "note": "enviado link",
            "reopen_cooldown_minutes": 1440,
            "expected_control_version": 3,
        },
        Close,
    ),
    (
        {"type": "MARK_READY_FOR_HUMAN", "target_session_id": "s-1", "reason": "orçamento"},
        MarkReadyForHuman,
    ),
    ({"type": "PAUSE_ALL", "reason": "incident"}, PauseAll),
    ({"type": "RESUME_ALL", "reason": "fixed", "command_id": "c-42"}, ResumeAll),
    ({"type": "SEND_MESSAGE", "target_session_id": "s-1", "text": "Oi, aqui é a Ana"}, SendMessage),
    ({"type": "ADD_NOTE", "target_session_id": "s-1", "text": "ligar amanhã"}, AddNote),
    ({"type": "FORGET_CONTACT", "target_session_id": "s-1", "reason": "LGPD"}, ForgetContact),
]


@pytest.mark.parametrize(("data", "expected"), VALID_COMMANDS, ids=lambda v: str(v)[:30])
def test_commands_parse_from_json_into_their_class(
    data: dict[str, object], expected: type[BaseModel]
) -> None:
    command = COMMANDS.validate_python(data)

    assert type(command) is expected
    assert COMMANDS.validate_json(COMMANDS.dump_json(command)) == command


def test_the_union_covers_every_command_type_once() -> None:
    tags = [str(data["type"]) for data, _ in VALID_COMMANDS]
    assert sorted(tags) == sorted(CommandType)
    assert {cls for _, cls in VALID_COMMANDS} == set(COMMAND_CLASSES)


def test_only_pausing_resuming_and_forgetting_need_an_admin() -> None:
    admin_only = {cls.__name__ for cls in COMMAND_CLASSES if cls.ADMIN_ONLY}
    assert admin_only == {"PauseAll", "ResumeAll", "ForgetContact"}


@pytest.mark.parametrize(
    ("data", "loc", "error_type"),
    [
        ({"type": "SEND_MESSAGE", "target_session_id": "s-1"}, ("SEND_MESSAGE", "text"), "missing"),
        (
            {"type": "SEND_MESSAGE", "target_session_id": "s-1", "text": " \n "},
            ("SEND_MESSAGE", "text"),
            "string_pattern_mismatch",
        ),
        (
            {"type": "SEND_MESSAGE", "target_session_id": "s-1", "text": "x" * 4097},
            ("SEND_MESSAGE", "text"),
            "string_too_long",
        ),
        ({"type": "ADD_NOTE", "target_session_id": "s-1"}, ("ADD_NOTE", "text"), "missing"),
        ({"type": "REBOOT", "target_session_id": "s-1"}, (), "union_tag_invalid"),
        ({"target_session_id": "s-1", "reason": "x"}, (), "union_tag_not_found"),
        ({"type": "TAKEOVER", "reason": "x"}, ("TAKEOVER", "target_session_id"), "missing"),
        (
            {"type": "TAKEOVER", "target_session_id": "s-1", "reason": "   "},
            ("TAKEOVER", "reason"),
            "string_too_short",
        ),
        (
            {
                "type": "TAKEOVER",
                "target_session_id": "s-1",
                "reason": "x",
                "expected_control_version": -1,
            },
            ("TAKEOVER", "expected_control_version"),
            "greater_than_equal",
        ),
        (
            {"type": "TAKEOVER", "target_session_id": "../etc/passwd", "reason": "x"},
            ("TAKEOVER", "target_session_id"),
            "string_pattern_mismatch",
        ),
        (
            {"type": "RELEASE", "target_session_id": "s-1", "reason": "x", "command_id": "a b"},
            ("RELEASE", "command_id"),
            "string_pattern_mismatch",
        ),
        (
            {"type": "CLOSE", "target_session_id": "s-1", "reason": "x"},
            ("CLOSE", "outcome"),
            "missing",
        ),
        (
            {"type": "CLOSE", "target_session_id": "s-1", "reason": "x", "outcome": "WON"},
            ("CLOSE", "outcome"),
            "enum",
        ),
        (
            {
                "type": "CLOSE",
                "target_session_id": "s-1",
                "reason": "x",
                "outcome": "SPAM",
                "reopen_cooldown_minutes": 0,
            },
            ("CLOSE", "reopen_cooldown_minutes"),
            "greater_than_equal",
        ),
        (
            {"type": "PAUSE_ALL", "reason": "x", "target_session_id": "s-1"},
            ("PAUSE_ALL", "target_session_id"),
            "extra_forbidden",
        ),
        (
            {
                "type": "ADD_NOTE",
                "target_session_id": "s-1",
                "text": "x",
                "expected_control_version": 1,
            },
            ("ADD_NOTE", "expected_control_version"),
            "extra_forbidden",
        ),
        (
            {
                "type": "MARK_READY_FOR_HUMAN",
                "target_session_id": "s-1",
                "reason": "x",
                "priority": "ASAP",
            },
            ("MARK_READY_FOR_HUMAN", "priority"),
            "enum",
        ),
    ],
)
def test_invalid_commands_are_rejected_field_by_field(
    data: dict[str, object], loc: tuple[str, ...], error_type: str
) -> None:
    with pytest.raises(ValidationError) as error:
        COMMANDS.validate_python(data)

    assert [(e["loc"], e["type"]) for e in error.value.errors()] == [(loc, error_type)]


IDS = st.from_regex(r"\A[A-Za-z0-9_.~+=-]{1,40}\Z").filter(
    lambda i: i not in (".", "..") and not (len(i) >= 4 and i[:2] == i[-2:] == "__")
)
"""Ids as `EntityId` allows them: its charset, less the names no document can have."""
REASONS = st.text(min_size=1, max_size=100).filter(lambda s: s.strip() == s and s != "")
VERSIONS = st.none() | st.integers(0, 10**9)
ANY_COMMAND = st.one_of(
    st.builds(
        TakeOver,
        target_session_id=IDS,
        reason=REASONS,
        expected_control_version=VERSIONS,
        command_id=st.none() | IDS,
    ),
    st.builds(
        Close,
        target_session_id=IDS,
        reason=REASONS,
        outcome=st.sampled_from(SessionOutcome),
        note=st.none() | st.text(min_size=1, max_size=200).filter(str.strip),
        reopen_cooldown_minutes=st.none() | st.integers(1, 43200),
    ),
    st.builds(
        MarkReadyForHuman,
        target_session_id=IDS,
        reason=REASONS,
        priority=st.sampled_from(Priority),
    ),
    st.builds(PauseAll, reason=REASONS, expected_control_version=VERSIONS),
    st.builds(
        SendMessage,
        target_session_id=IDS,
        text=st.text(min_size=1, max_size=500).filter(str.strip),
    ),
)


@given(ANY_COMMAND)
def test_any_command_survives_its_request_event(command: BaseModel) -> None:
    event = CommandRequested(command=command, requested_by="ana", requested_at=NOW)

    restored = record(event, "command-c1").event()

    assert isinstance(restored, CommandRequested)
    assert restored.command == command
    assert type(restored.command) is type(command)
