"""The Channel contract: every adapter runs these unchanged. The Graph adapter talks
to the fake Graph API's default (a WhatsApp that accepts everything); the sandbox
writes to a temporary outbox.

The last tests look under the sandbox, at the raw outbox file, because its promise is
about what is stored: the text, and never the number.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.whatsapp.graph import GraphChannel
from adapters.whatsapp.sandbox import SandboxChannel, read_outbox
from contracts.ports.channel import Channel, Recipient, Sent
from tests.fake_graph import fake_graph

PHONE = "+5511999990001"
USER_ID = "BR.1502576394655843"
LINE = "106540352242922"
TEXT = "Oi! Posso ajudar com o seu orçamento?"


@pytest.fixture(params=["graph", "sandbox"])
def channel(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Channel]:
    if request.param == "sandbox":
        yield SandboxChannel(tmp_path / "outbox.jsonl")
        return
    with fake_graph() as graph:
        graph_channel = GraphChannel("contract-test-token", api_base=graph.base_url)
        yield graph_channel
        graph_channel.close()


def test_a_send_is_sent_with_a_message_id(channel: Channel) -> None:
    outcome = channel.send_text(LINE, Recipient(phone=PHONE), TEXT)

    assert isinstance(outcome, Sent)
    assert outcome.wa_message_id.strip()


def test_two_sends_get_two_ids(channel: Channel) -> None:
    first = channel.send_text(LINE, Recipient(phone=PHONE), TEXT)
    second = channel.send_text(LINE, Recipient(phone=PHONE), TEXT)

    assert isinstance(first, Sent)
    assert isinstance(second, Sent)
    assert first.wa_message_id != second.wa_message_id


@pytest.mark.parametrize(
    "to", [Recipient(user_id=USER_ID), Recipient(phone=PHONE, user_id=USER_ID)]
)
def test_a_user_known_by_user_id_is_sent_to(channel: Channel, to: Recipient) -> None:
    assert isinstance(channel.send_text(LINE, to, TEXT), Sent)


def test_a_recipient_without_an_address_cannot_be_made() -> None:
    with pytest.raises(ValueError, match="a phone number or a user id"):
        Recipient()


def test_concurrent_sends_are_each_sent_once(channel: Channel) -> None:
    ids: list[str] = []
    lock = threading.Lock()

    def send_some() -> None:
        for _ in range(10):
            outcome = channel.send_text(LINE, Recipient(phone=PHONE), TEXT)
            assert isinstance(outcome, Sent)
            with lock:
                ids.append(outcome.wa_message_id)

    threads = [threading.Thread(target=send_some) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(ids)) == 60


# -- under the sandbox ---------------------------------------------------------------


def test_the_outbox_holds_the_text_and_never_the_address(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    sandbox = SandboxChannel(outbox)

    by_phone = sandbox.send_text(LINE, Recipient(phone=PHONE), TEXT)
    by_user_id = sandbox.send_text(LINE, Recipient(user_id=USER_ID), TEXT)

    raw = outbox.read_bytes()
    assert TEXT.encode() in raw
    for address in (PHONE, PHONE[1:], PHONE[-8:], USER_ID):
        assert address.encode() not in raw
    assert [
        (m.wa_message_id, m.business_number_id, m.text, m.to_kind) for m in read_outbox(outbox)
    ] == [
        (by_phone.wa_message_id, LINE, TEXT, "phone"),
        (by_user_id.wa_message_id, LINE, TEXT, "user_id"),
    ]


def test_concurrent_sends_leave_one_whole_line_each(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    sandbox = SandboxChannel(outbox)

    def send_some() -> None:
        for _ in range(20):
            sandbox.send_text(LINE, Recipient(phone=PHONE), TEXT * 50)

    threads = [threading.Thread(target=send_some) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    messages = read_outbox(outbox)
    assert len(messages) == len({m.wa_message_id for m in messages}) == 160
    assert all(m.text == TEXT * 50 for m in messages)


def test_an_outbox_not_yet_written_is_empty(tmp_path: Path) -> None:
    assert read_outbox(tmp_path / "never-written.jsonl") == []


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    sent = SandboxChannel(outbox).send_text(LINE, Recipient(phone=PHONE), TEXT)
    with outbox.open("a", encoding="utf-8") as file:
        file.write('{"wa_message_id": "wamid.sandbox-ab')

    assert [m.wa_message_id for m in read_outbox(outbox)] == [sent.wa_message_id]
