"""A Coexistence number (the WhatsApp Business app and Switchboard on the same number),
end to end through the signed webhook, on every back end: a message a person sends from
the app is echoed (`smb_message_echoes`), logged as theirs and takes the conversation
over; a status of a message Switchboard never sent is recorded once as unmatched and
acknowledged, not dead-lettered."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from contracts.streams import wamessage_stream
from contracts.topics import CONVERSATION_SUBSCRIPTION
from ingress import samples
from ingress.signature import HEADER, signature_header
from ingress.webhook import PATH
from tests.backends import Backend
from tests.e2e.reading_helpers import APP_SECRET, World, scrape, serve_world
from tests.pipeline import FAST, eventually

ECHO_FIXTURE = Path(__file__).parent.parent / "fixtures" / "smb_message_echoes.json"
"""Meta's documented example of the webhook (smb_message_echoes reference)."""
CUSTOMER = "+16505551234"
"""The example's `to`."""
FOREIGN_WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
HANDLED = "switchboard_messages_handled_total"
APPENDED = "switchboard_events_appended_total"


@pytest.fixture
def world(backend: Backend, tmp_path: Path) -> Iterator[World]:
    with serve_world(backend, tmp_path, FAST.model_copy(update=GRACE)) as served:
        yield served


GRACE = {"status_link_grace": timedelta(seconds=1)}


def post(world: World, body: dict[str, Any]) -> None:
    raw = samples.encode(body)
    headers = {"Content-Type": "application/json", HEADER: signature_header(APP_SECRET, raw)}
    answer = world.http.post(PATH, content=raw, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "published", answer.text


def customer_says(world: World, text: str) -> None:
    item = samples.message("text", phone=CUSTOMER, text=text)
    post(world, samples.body(samples.change(messages=[item], contacts=[samples.contact(CUSTOMER)])))


def echo_from_the_app() -> dict[str, Any]:
    """The documented example, timestamped now (the example's is of February 2025)."""
    body: dict[str, Any] = json.loads(ECHO_FIXTURE.read_text())
    (echo,) = body["entry"][0]["changes"][0]["value"]["message_echoes"]
    echo["timestamp"] = str(int(time.time()))
    return body


def stays(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert condition(), f"no longer true: {what}"
        time.sleep(0.1)


def test_an_echo_is_logged_as_the_humans_and_takes_the_conversation_over(world: World) -> None:
    customer_says(world, "Olá, quero um orçamento")
    session_id = world.session_of(CUSTOMER)
    world.pipeline.wait_for(session_id, "OutboundSent")  # the bot answered the first message

    post(world, echo_from_the_app())

    def echoed() -> dict[str, Any] | None:
        log = world.read(f"/api/sessions/{session_id}/messages")["items"]
        return next((m for m in log if m["channel"] == "WHATSAPP_APP"), None)

    entry = eventually(echoed, 30, "the echo in the message log")
    assert entry["actor"] == "HUMAN"
    assert entry["direction"] == "OUT"
    assert entry["type"] == "text"
    assert entry["body_sanitized"] == (
        "Here's the info you requested! https://www.meta.com/quest/quest-3/"
    )
    assert entry["wa_message_ref"] == world.pipeline.vault.message_ref(
        "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBIyNDlBOEI5QUQ4NDc0N0FCNjMA"
    )
    control = world.until(
        f"/api/sessions/{session_id}", lambda s: s["control"]["mode"] == "HUMAN_TAKEOVER"
    )["control"]
    assert control["human_assignee"] == "WhatsApp Business app"

    customer_says(world, "Obrigado! E o prazo?")
    world.pipeline.wait_for(session_id, "MessageReceived", count=2)
    stays(
        lambda: world.pipeline.count(session_id, "OutboundClaimed") == 1,
        seconds=3,
        what="the bot does not answer over the person typing from their phone",
    )
    assert world.pipeline.count(session_id, "ReplyDrafted") == 1
    stored = "\n".join(e.model_dump_json() for e in world.pipeline.events(session_id))
    assert "6505551234" not in stored
    assert "wamid." not in stored

    release = {"type": "RELEASE", "target_session_id": session_id, "reason": "de volta ao bot"}
    world.command(release, world.operator)
    customer_says(world, "Alguém aí?")
    world.pipeline.wait_for(session_id, "OutboundSent", count=2)  # the bot has it again


def test_a_status_of_a_message_switchboard_never_sent_is_recorded_once_as_unmatched(
    world: World,
) -> None:
    before = scrape(world.http)
    status = samples.status("read", phone=CUSTOMER, message_id=FOREIGN_WAMID)
    body = samples.body(samples.change(statuses=[status]))

    post(world, body)

    unmatched = {"type": "WhatsAppStatusUnmatched"}
    handled = {"subscription": CONVERSATION_SUBSCRIPTION, "type": "WhatsAppStatusReported"}

    def counted() -> bool:
        now = scrape(world.http)
        return now.value(APPENDED, **unmatched) - before.value(APPENDED, **unmatched) == 1

    eventually(counted, 30, "the unmatched status on /metrics")
    ref = world.pipeline.vault.message_ref(FOREIGN_WAMID)
    recorded = world.pipeline.store.read(wamessage_stream(ref))
    assert [e.type for e in recorded] == ["WhatsAppStatusUnmatched"]
    assert recorded[0].payload["status"] == "READ"

    post(world, body)  # Meta delivers a webhook more than once

    def acked_twice() -> bool:
        now = scrape(world.http)
        ok = now.value(HANDLED, **handled, outcome="ok") - before.value(
            HANDLED, **handled, outcome="ok"
        )
        return ok == 2

    eventually(acked_twice, 30, "both deliveries acknowledged")
    after = scrape(world.http)
    assert after.value(HANDLED, **handled, outcome="failed") == before.value(
        HANDLED, **handled, outcome="failed"
    )
    assert after.value(APPENDED, **unmatched) - before.value(APPENDED, **unmatched) == 1
    assert [e.type for e in world.pipeline.store.read(wamessage_stream(ref))] == [
        "WhatsAppStatusUnmatched"
    ]
    assert world.pipeline.bus.dead_letters(CONVERSATION_SUBSCRIPTION) == []


ECHO_WAMID = "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBIyNDlBOEI5QUQ4NDc0N0FCNjMA"
"""The documented echo's id."""


def test_the_statuses_of_an_echo_move_its_ticks_and_are_not_unmatched(world: World) -> None:
    customer_says(world, "Olá, quero um orçamento")
    session_id = world.session_of(CUSTOMER)
    world.pipeline.wait_for(session_id, "OutboundSent")
    post(world, echo_from_the_app())
    world.pipeline.wait_for(session_id, "MessageEchoed")

    def ticked(state: str) -> dict[str, Any] | None:
        log = world.read(f"/api/sessions/{session_id}/messages")["items"]
        echoed = next((m for m in log if m["channel"] == "WHATSAPP_APP"), None)
        return echoed if echoed and echoed["status"] == state else None

    for state in ("delivered", "read"):  # one at a time: a status never goes back
        status = samples.status(state, phone=CUSTOMER, message_id=ECHO_WAMID)
        post(world, samples.body(samples.change(statuses=[status])))
        echoed = eventually(partial(ticked, state.upper()), 30, f"the echo {state}")

    assert [change["status"] for change in echoed["status_history"]] == [
        "SENT", "DELIVERED", "READ"
    ]  # fmt: skip
    ref = world.pipeline.vault.message_ref(ECHO_WAMID)
    assert [e.type for e in world.pipeline.store.read(wamessage_stream(ref))] == [
        "WhatsAppMessageLinked"
    ]
