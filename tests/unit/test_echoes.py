"""Echoes of a Coexistence number's WhatsApp Business app (`smb_message_echoes`): read
from Meta's documented example, and decided as a human taking the conversation over."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.crypto.keyring import Keyring
from adapters.sqlite.vault import SqliteVault
from contracts.envelope import Actor
from contracts.events import ControlChanged, LeadStatusChanged, MessageEchoed
from contracts.vocabulary import LeadStatus, MessageType, SessionMode
from domain.echo import APP_ASSIGNEE, Echo, decide_echo
from domain.identity import contact_identity
from ingress.inbound import parse_body, translate
from tests.unit.domain_world import World, contact, hex64

FIXTURE = Path(__file__).parent.parent / "fixtures" / "smb_message_echoes.json"
NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[SqliteVault]:
    opened = SqliteVault(tmp_path / "vault.db", hash_key=b"h" * 32, keyring=Keyring.generate("t1"))
    yield opened
    opened.close()


def test_the_documented_echo_becomes_a_humans_message_to_the_customer(
    vault: SqliteVault,
) -> None:
    translation = translate(parse_body(FIXTURE.read_bytes()), vault, NOW)

    (envelope,) = translation.envelopes
    assert translation.echoes == 1
    assert translation.messages == 0
    assert envelope.actor is Actor.HUMAN
    event = envelope.event()
    assert isinstance(event, MessageEchoed)
    assert event.to_hash == vault.contact_hash(contact_identity(None, "+16505551234"))
    assert event.type is MessageType.TEXT
    assert event.body_sanitized == (
        "Here's the info you requested! https://www.meta.com/quest/quest-3/"
    )
    assert event.business_number_id == "106540352242922"
    assert envelope.occurred_at == datetime.fromtimestamp(1739321024, UTC)
    dumped = envelope.model_dump_json()
    assert "16505551234" not in dumped
    assert "15550783881" not in dumped
    assert "wamid." not in dumped


def test_a_malformed_echo_is_kept_alone_and_its_siblings_flow_on(vault: SqliteVault) -> None:
    body = json.loads(FIXTURE.read_bytes())
    value = body["entry"][0]["changes"][0]["value"]
    (good,) = value["message_echoes"]
    without_customer = {key: v for key, v in good.items() if key != "to"}
    value["message_echoes"] = [without_customer, good | {"id": good["id"] + "2"}]

    translation = translate(parse_body(json.dumps(body).encode()), vault, NOW)

    assert translation.echoes == 1
    (rejected,) = translation.rejected
    assert rejected.reason.startswith("echoes 0 message 0")
    assert "names no customer" in rejected.reason
    assert json.loads(rejected.raw) == without_customer


def echo(world: World, to_hash: str, text: str = "Oi, aqui é a Ana") -> list[ControlChanged]:
    """An echo decided and appended as the worker does; the control changes it made."""
    input_id = world.next_id("echo")
    message = MessageEchoed(
        wa_message_ref=hex64("echo", input_id), to_hash=to_hash, type=MessageType.TEXT,
        body_sanitized=text, business_number_id="106540352242922",
    )  # fmt: skip
    lead = world.lead_of(to_hash)
    session = world.session(lead.session_id) if lead else None
    decided = decide_echo(
        lead, session, Echo(input_id, message, world.now), world.now, world.policy
    )
    world.append(decided.emits, input_id)
    return [e.event for e in decided.emits if isinstance(e.event, ControlChanged)]


def test_an_echo_takes_the_session_over_and_the_bot_does_not_answer() -> None:
    world, customer = World(), contact("maria")
    delivered = world.receive(customer, "Olá")
    assert delivered.recorded is not None
    session_id = delivered.recorded.session_id
    world.answer(session_id)

    (changed,) = echo(world, customer)

    session = world.must_session(session_id)
    assert changed.mode is SessionMode.HUMAN_TAKEOVER
    assert session.mode is SessionMode.HUMAN_TAKEOVER
    assert session.assignee == APP_ASSIGNEE
    assert world.must_lead(session.lead_id).status is LeadStatus.IN_HUMAN
    later = world.receive(customer, "E o prazo?")
    assert later.recorded is not None
    assert later.recorded.answerable is False
    assert echo(world, customer) == []  # a human holds it already: only logged


def test_an_echo_to_a_customer_without_a_session_opens_one_under_takeover() -> None:
    world, customer = World(), contact("joao")

    (changed,) = echo(world, customer)

    lead = world.lead_of(customer)
    assert lead is not None
    assert lead.status is LeadStatus.IN_HUMAN
    assert world.must_session(lead.session_id).mode is SessionMode.HUMAN_TAKEOVER
    assert changed.version == 1
    statuses = [e for e in world.events(f"lead-{lead.lead_id}") if isinstance(e, LeadStatusChanged)]
    assert [s.status for s in statuses] == [LeadStatus.IN_HUMAN]
    assert world.receive(customer, "Oi").recorded.answerable is False  # type: ignore[union-attr]
