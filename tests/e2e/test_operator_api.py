"""The operator API over HTTP, on a real server, on every back end."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from contracts.envelope import Actor, EventEnvelope, NewEvent
from contracts.events.lead import LeadOpened
from contracts.operators import Role
from contracts.ports.vault import ContactIdentity
from contracts.streams import command_stream, lead_stream
from ingress.app import create_app
from ingress.services import COMMANDS_TOPIC, IngressServices
from tests.backends import Backend
from tests.e2e.live_server import serving

PHONE = "+5511999990001"
SUBSCRIPTION = "command-worker-test"


class Api:
    def __init__(self, base_url: str, services: IngressServices) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.services = services
        self.admin = services.operators.add("ana", Role.ADMIN)
        self.operator = services.operators.add("bruno", Role.OPERATOR)

    def post(self, path: str, body: dict[str, Any], token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.post(path, json=body, headers=headers)

    def get(self, path: str, token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.get(path, headers=headers)


@pytest.fixture
def api(backend: Backend) -> Iterator[Api]:
    store, bus = backend.event_store(), backend.bus()
    services = IngressServices(
        store=store, bus=bus, vault=backend.vault(), operators=backend.operators(),
        clock=lambda: datetime.now(UTC), whatsapp_verify_token="verify",
        whatsapp_app_secret=b"secret",
    )  # fmt: skip
    bus.declare(COMMANDS_TOPIC, SUBSCRIPTION)
    with serving(create_app(services)) as base_url:
        yield Api(base_url, services)
    bus.close()
    store.close()


def published(api: Api, count: int) -> list[EventEnvelope]:
    received: list[EventEnvelope] = []
    done = threading.Event()

    def collect(envelope: EventEnvelope) -> None:
        received.append(envelope)
        if len(received) >= count:
            done.set()

    consumer = api.services.bus.subscribe(SUBSCRIPTION, collect)
    done.wait(30)
    consumer.stop()
    return received


TAKEOVER = {"type": "TAKEOVER", "target_session_id": "s-1", "reason": "customer asked"}


def test_without_a_valid_token_nothing_is_accepted(api: Api) -> None:
    assert api.post("/api/commands", TAKEOVER, None).status_code == 401
    assert api.post("/api/commands", TAKEOVER, "sb_not-a-token").status_code == 401
    assert api.get("/api/commands/anything", None).status_code == 401


def test_a_command_is_durable_published_and_pending(api: Api) -> None:
    answer = api.post("/api/commands", TAKEOVER, api.operator)

    assert answer.status_code == 202
    command_id = answer.json()["command_id"]
    assert answer.json()["status"] == "PENDING"
    [requested] = api.services.store.read(command_stream(command_id))
    assert requested.actor is Actor.HUMAN
    assert requested.payload["requested_by"] == "bruno"
    assert [e.event_id for e in published(api, 1)] == [requested.event_id]
    status = api.get(f"/api/commands/{command_id}", api.operator).json()
    assert (status["status"], status["type"], status["requested_by"]) == (
        "PENDING",
        "TAKEOVER",
        "bruno",
    )


def test_a_retry_with_the_same_command_id_changes_nothing(api: Api) -> None:
    body = {**TAKEOVER, "command_id": "cmd-42"}

    first = api.post("/api/commands", body, api.operator)
    again = api.post("/api/commands", body, api.operator)
    other = api.post("/api/commands", {**body, "reason": "something else"}, api.operator)

    assert (first.status_code, again.status_code, other.status_code) == (202, 202, 409)
    assert first.json() == again.json() == {"command_id": "cmd-42", "status": "PENDING"}
    assert len(api.services.store.read(command_stream("cmd-42"))) == 1


def test_only_admins_pause_everything(api: Api) -> None:
    pause = {"type": "PAUSE_ALL", "reason": "incident", "command_id": "pause-1"}

    refused = api.post("/api/commands", pause, api.operator)
    accepted = api.post("/api/commands", pause, api.admin)

    assert refused.status_code == 403
    assert accepted.status_code == 202
    assert [e.payload["requested_by"] for e in api.services.store.read(
        command_stream("pause-1"))] == ["ana"]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"type": "SEND_MESSAGE", "target_session_id": "s-1"}, ["body", "SEND_MESSAGE", "text"]),
        ({"type": "TAKEOVER", "reason": "x"}, ["body", "TAKEOVER", "target_session_id"]),
        ({"type": "SELF_DESTRUCT"}, ["body"]),
    ],
)
def test_an_invalid_command_gets_field_level_errors(
    api: Api, body: dict[str, Any], location: list[str]
) -> None:
    answer = api.post("/api/commands", body, api.operator)

    assert answer.status_code == 422
    assert location in [error["loc"] for error in answer.json()["detail"]]


def test_an_unknown_command_is_404(api: Api) -> None:
    assert api.get("/api/commands/nope", api.operator).status_code == 404


def open_lead(api: Api, lead_id: str, seen: ContactIdentity | None = None) -> str:
    from_hash = api.services.vault.remember(seen or ContactIdentity(e164=PHONE))
    opened = NewEvent.of(
        LeadOpened(from_hash=from_hash, session_id="s-1"), event_id=f"{lead_id}-opened",
        occurred_at=datetime.now(UTC), actor=Actor.SYSTEM, correlation_id="c",
    )  # fmt: skip
    api.services.store.append(lead_stream(lead_id), [opened], expected_version=0)
    return from_hash


def test_an_admin_sees_the_number_and_it_is_audited_first(api: Api) -> None:
    open_lead(api, "lead-1")
    reveal = {"reason": "customer asked for a call back"}

    refused = api.post("/api/leads/lead-1/reveal-phone", reveal, api.operator)
    shown = api.post("/api/leads/lead-1/reveal-phone", reveal, api.admin)

    assert refused.status_code == 403
    assert shown.status_code == 200
    assert shown.json() == {"lead_id": "lead-1", "phone_e164": PHONE}
    audit = api.services.store.read(lead_stream("lead-1"))[-1]
    assert (audit.type, audit.payload) == (
        "PhoneRevealed",
        {"by": "ana", "reason": reveal["reason"]},
    )
    assert PHONE not in audit.model_dump_json()


def test_a_forgotten_number_is_gone_and_an_unknown_lead_is_404(api: Api) -> None:
    api.services.vault.forget(open_lead(api, "lead-2"))
    reveal = {"reason": "audit"}

    assert api.post("/api/leads/lead-2/reveal-phone", reveal, api.admin).status_code == 410
    assert api.post("/api/leads/nobody/reveal-phone", reveal, api.admin).status_code == 404


def test_a_lead_known_only_by_its_bsuid_has_no_number_to_reveal(api: Api) -> None:
    open_lead(api, "lead-3", ContactIdentity(bsuid="BR.1502576394655843"))

    answer = api.post("/api/leads/lead-3/reveal-phone", {"reason": "call"}, api.admin)

    assert answer.status_code == 404
    assert answer.json()["detail"] == (
        "no phone number is known for this lead; it is reachable by its business-scoped id"
    )
