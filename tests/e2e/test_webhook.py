"""The WhatsApp webhook over HTTP, on a real uvicorn server, on every back end."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from contracts.envelope import EventEnvelope, derived_event_id
from contracts.events.webhook import WebhookPayloadRejected
from contracts.streams import deadletter_stream
from contracts.topics import EVENTS_TOPIC
from ingress import samples
from ingress.app import create_app
from ingress.services import INBOUND_TOPIC, IngressServices
from ingress.signature import HEADER, signature_header
from ingress.webhook import MAX_BODY_BYTES, PATH
from tests.backends import Backend, number_in
from tests.e2e.live_server import serving

SECRET = b"e2e-app-secret"
VERIFY_TOKEN = "verify-me-9c1e"
PHONE = "+5511999990001"
PHONE_FORMS = ("5511999990001", "11999990001", "99999-0001")


@dataclass
class Webhook:
    http: httpx.Client
    services: IngressServices
    backend: Backend
    subscription: str
    """A fresh one per test: a subscription whose previous consumer just stopped can
    be slow to deliver again on the Pub/Sub emulator."""

    def post(self, raw: bytes, signature: str | None = None, **headers: str) -> httpx.Response:
        sent = {"Content-Type": "application/json", **headers}
        sent[HEADER] = signature if signature is not None else signature_header(SECRET, raw)
        return self.http.post(PATH, content=raw, headers=sent)

    def post_unsigned(self, raw: bytes) -> httpx.Response:
        return self.http.post(PATH, content=raw, headers={"Content-Type": "application/json"})


@pytest.fixture(autouse=True)
def logging_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI configures structlog process-wide and caches loggers on first use; in
    a test process that would leak into every later test that captures logs."""
    monkeypatch.setattr("app.cli.configure_logging", lambda *_args, **_kwargs: None)


@pytest.fixture
def webhook(backend: Backend) -> Iterator[Webhook]:
    store, bus = backend.event_store(), backend.bus()
    services = IngressServices(
        store=store,
        bus=bus,
        vault=backend.vault(),
        operators=backend.operators(),
        clock=lambda: datetime.now(UTC),
        whatsapp_verify_token=VERIFY_TOKEN,
        whatsapp_app_secret=SECRET,
    )
    subscription = f"conversation-worker-test-{uuid.uuid4().hex[:12]}"
    bus.declare(INBOUND_TOPIC, subscription)
    bus.declare(EVENTS_TOPIC)  # where a dead-lettered body is published
    with (
        serving(create_app(services)) as base_url,
        httpx.Client(base_url=base_url, timeout=30) as http,
    ):
        yield Webhook(http, services, backend, subscription)
    bus.close()
    store.close()


def consume(
    webhook: Webhook, count: int, timeout: float = 30, until: str | None = None, grace: float = 0
) -> list[EventEnvelope]:
    """Envelopes of the inbound subscription, acked: the next `count`, or, with `until`,
    all up to the message of that ref and whatever else comes in `grace` seconds."""
    received: list[EventEnvelope] = []
    lock, done = threading.Lock(), threading.Event()

    def collect(envelope: EventEnvelope) -> None:
        with lock:
            received.append(envelope)
            if until is None and len(received) >= count:
                done.set()
            if until is not None and envelope.payload.get("wa_message_ref") == until:
                done.set()

    consumer = webhook.services.bus.subscribe(webhook.subscription, collect)
    done.wait(timeout)
    time.sleep(grace)
    consumer.stop()
    return received


def text_body(text: str = "Olá", message_id: str | None = None) -> dict[str, Any]:
    item = samples.message("text", phone=PHONE, text=text, message_id=message_id)
    return samples.body(samples.change(messages=[item], contacts=[samples.contact(PHONE)]))


def assert_only_sentinel_arrives(webhook: Webhook) -> None:
    """Nothing but a message posted afterwards reaches the topic: whatever came before
    it was not published (the bus would deliver it too, being at-least-once)."""
    sentinel = samples.new_wamid()
    assert webhook.post(samples.encode(text_body("sentinel", sentinel))).status_code == 200
    ref = webhook.services.vault.message_ref(sentinel)
    received = consume(webhook, 0, until=ref, grace=1)
    assert [envelope.payload["wa_message_ref"] for envelope in received] == [ref]


# --- GET: Meta's subscription check -----------------------------------------------------


def test_the_challenge_is_echoed_for_our_verify_token(webhook: Webhook) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
              "hub.challenge": "1158201444"}  # fmt: skip

    response = webhook.http.get(PATH, params=params)

    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.challenge": "1"},
        {},
    ],
    ids=["wrong token", "wrong mode", "no token", "nothing"],
)
def test_the_challenge_is_refused_otherwise(webhook: Webhook, params: dict[str, str]) -> None:
    response = webhook.http.get(PATH, params=params)

    assert response.status_code == 403
    assert "1" not in response.text


# --- POST: deliveries -------------------------------------------------------------------


def test_a_signed_message_is_on_the_bus_when_the_200_comes(webhook: Webhook) -> None:
    wamid = samples.new_wamid()

    response = webhook.post(samples.encode(text_body("Olá, café às 9h? ☕👍", wamid)))

    assert response.status_code == 200
    assert response.json() == {"status": "published", "messages": 1, "statuses": 0}
    (envelope,) = consume(webhook, 1)
    ref = webhook.services.vault.message_ref(wamid)
    assert envelope.event_id == derived_event_id(ref, "MessageReceived")
    assert envelope.payload["wa_message_ref"] == ref
    assert envelope.payload["body_sanitized"] == "Olá, café às 9h? ☕👍"
    assert number_in(webhook.services.vault, envelope.payload["from_hash"]) == PHONE


def test_a_duplicate_delivery_carries_the_same_event_id(webhook: Webhook) -> None:
    raw = samples.encode(text_body("de novo"))

    statuses = [webhook.post(raw).status_code, webhook.post(raw).status_code]

    assert statuses == [200, 200]
    received = consume(webhook, 2)
    assert len(received) == 2
    assert received[0].event_id == received[1].event_id
    assert received[0].payload == received[1].payload


def test_a_batch_publishes_every_message_and_status(webhook: Webhook) -> None:
    messages = [samples.message("text", phone=PHONE, text=f"m{n}") for n in range(3)]
    statuses = [samples.status("delivered", phone=PHONE), samples.status("read", phone=PHONE)]
    payload = samples.body(
        samples.change(messages=messages[:2], contacts=[samples.contact(PHONE)]),
        samples.change(statuses=statuses),
        samples.change(messages=messages[2:]),
        entries=2,
    )

    response = webhook.post(samples.encode(payload))

    assert response.json() == {"status": "published", "messages": 3, "statuses": 2}
    received = consume(webhook, 5)
    assert sorted(envelope.type for envelope in received) == [
        *["MessageReceived"] * 3,
        *["WhatsAppStatusReported"] * 2,
    ]
    ref = webhook.services.vault.message_ref
    assert {e.payload["wa_message_ref"] for e in received} == {
        *(ref(m["id"]) for m in messages),
        *(ref(s["id"]) for s in statuses),
    }


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "sha256=" + "0" * 64,
        signature_header(b"not-the-app-secret", samples.encode(text_body("x"))),
        "sha1=abc",
    ],
    ids=["missing", "wrong", "other secret", "malformed"],
)
def test_without_a_valid_signature_nothing_is_published(
    webhook: Webhook, signature: str | None
) -> None:
    raw = samples.encode(text_body("x"))

    response = webhook.post_unsigned(raw) if signature is None else webhook.post(raw, signature)

    assert response.status_code == 401
    assert HEADER in response.json()["detail"]
    assert_only_sentinel_arrives(webhook)


def test_a_tampered_body_is_refused(webhook: Webhook) -> None:
    raw = samples.encode(text_body("pague R$ 10"))
    tampered = raw.replace(b"10", b"99")

    assert webhook.post(tampered, signature_header(SECRET, raw)).status_code == 401
    assert_only_sentinel_arrives(webhook)


def test_a_body_over_3_mb_is_refused_before_it_is_read(webhook: Webhook) -> None:
    raw = samples.encode(text_body("x" * MAX_BODY_BYTES))
    assert len(raw) > 3 * 1024 * 1024

    declared = webhook.post(raw)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(raw), 64 * 1024):
            yield raw[start : start + 64 * 1024]

    streamed = webhook.http.post(
        PATH, content=chunks(), headers={HEADER: signature_header(SECRET, raw)}
    )

    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert "Content-Length" not in streamed.request.headers
    assert_only_sentinel_arrives(webhook)


# --- signed but unreadable: kept for operators ----------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"object": "whatsapp_business_account", "entry": [{"from": "' + PHONE.encode(),
        b'{"object": "instagram", "entry": [{"from": "5511999990001"}]}',
    ],
    ids=["not JSON", "not a known shape"],
)
def test_an_unreadable_signed_body_is_acknowledged_and_kept_sealed(
    webhook: Webhook, raw: bytes
) -> None:
    first, again = webhook.post(raw), webhook.post(raw)

    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["status"] == "kept_for_operators"
    digest = hashlib.sha256(raw).hexdigest()
    (envelope,) = webhook.services.store.read(deadletter_stream(digest))
    assert envelope.event_id == first.json()["event_id"] == again.json()["event_id"]
    event = envelope.event()
    assert isinstance(event, WebhookPayloadRejected)
    assert (event.body_sha256, event.size_bytes, event.kept_bytes) == (digest, len(raw), len(raw))
    assert webhook.services.vault.unseal(base64.b64decode(event.sealed_body)) == raw
    assert not any(form in envelope.model_dump_json() for form in PHONE_FORMS)
    assert_only_sentinel_arrives(webhook)


def test_one_malformed_message_does_not_sink_its_siblings(webhook: Webhook) -> None:
    siblings = [samples.message("text", phone=PHONE, text=t) for t in ("antes", "depois")]
    untyped = samples.message("text", phone=PHONE, text=f"sem tipo {PHONE}")
    del untyped["type"]
    status = samples.status("delivered", phone=PHONE)
    payload = samples.body(
        samples.change(messages=[siblings[0], untyped], contacts=[samples.contact(PHONE)]),
        samples.change(messages=[siblings[1]], statuses=[status]),
    )

    response = webhook.post(samples.encode(payload))

    assert response.status_code == 200
    outcome = response.json()
    assert (outcome["status"], outcome["messages"], outcome["statuses"]) == ("published", 2, 1)
    ref = webhook.services.vault.message_ref
    received = consume(webhook, 3)
    assert {e.payload["wa_message_ref"] for e in received} == {
        ref(siblings[0]["id"]), ref(siblings[1]["id"]), ref(status["id"])
    }  # fmt: skip
    (event_id,) = outcome["kept_for_operators"]
    part = json.dumps(untyped, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(part.encode()).hexdigest()
    (envelope,) = webhook.services.store.read(deadletter_stream(digest))
    assert envelope.event_id == event_id
    event = envelope.event()
    assert isinstance(event, WebhookPayloadRejected)
    assert "value 0 message 1: type: Field required" in event.reason
    assert json.loads(webhook.services.vault.unseal(base64.b64decode(event.sealed_body))) == untyped
    assert not any(form in envelope.model_dump_json() for form in PHONE_FORMS)


def test_a_changed_international_number_is_masked_in_the_notice(webhook: Webhook) -> None:
    """Meta's `user_changed_number` notice, for a customer outside Brazil."""
    old, new = "972987654321", "972912345678"
    notice = {
        "body": f"User A changed from {old} to {new}",
        "new_wa_id": new,
        "type": "user_changed_number",
    }
    item = samples.message("system", phone=old, system=notice)
    raw = samples.encode(samples.body(samples.change(messages=[item])))

    assert webhook.post(raw).json()["messages"] == 1

    (envelope,) = consume(webhook, 1)
    assert envelope.payload["body_sanitized"] == "User A changed from [telefone] to [telefone]"
    for number in (old, new, old[3:], new[3:]):
        assert number not in envelope.model_dump_json()
        assert number not in stored_text(webhook.backend)


def test_a_phone_number_is_nowhere_in_clear(
    webhook: Webhook, capfd: pytest.CaptureFixture[str]
) -> None:
    kinds = [kind for kind in samples.SampleKind if kind is not samples.SampleKind.STATUS]
    for kind in kinds:
        raw = samples.encode(samples.sample(kind, phone=PHONE, text=f"ligue {PHONE}"))
        assert webhook.post(raw).status_code == 200
    status = samples.sample(samples.SampleKind.STATUS, phone=PHONE, text="")
    assert webhook.post(samples.encode(status)).status_code == 200
    assert webhook.post(b'{"broken": "' + PHONE.encode()).status_code == 200
    received = consume(webhook, len(kinds) + 1)

    assert len(received) == len(kinds) + 1
    published = "\n".join(envelope.model_dump_json() for envelope in received)
    stored = stored_text(webhook.backend)
    logged = "".join(capfd.readouterr())
    for form in PHONE_FORMS:
        assert form not in published
        assert form not in stored
        assert form not in logged


def stored_text(backend: Backend) -> str:
    """Everything the back end holds, as text: the SQLite file (and its WAL), or every
    Firestore document."""
    if backend.kind == "sqlite":
        with sqlite3.connect(backend.sqlite_path) as connection:
            connection.execute("PRAGMA wal_checkpoint(FULL)")
        files = [backend.sqlite_path, backend.sqlite_path + "-wal"]
        return "".join(
            open(path, "rb").read().decode("latin-1") for path in files if os.path.exists(path)
        )
    from google.cloud import firestore

    client = firestore.Client(project=backend.project)
    texts: list[str] = []
    pending = list(client.collections())
    while pending:
        collection = pending.pop()
        for document in collection.stream():
            texts.append(repr(document.to_dict()))
            pending.extend(document.reference.collections())
    return "\n".join(texts)


# --- switchboard simulate ----------------------------------------------------------------


@pytest.mark.parametrize("kind", list(samples.SampleKind))
def test_simulate_posts_a_signed_webhook_of_each_type(
    webhook: Webhook, kind: samples.SampleKind
) -> None:
    result = CliRunner().invoke(
        cli, ["simulate", "--url", str(webhook.http.base_url), "--type", kind.value,
              "--from", PHONE, "--text", "Olá"],
        env={"WHATSAPP_APP_SECRET": SECRET.decode()},
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "200" in result.output
    (envelope,) = consume(webhook, 1)
    expected = "WhatsAppStatusReported" if kind is samples.SampleKind.STATUS else "MessageReceived"
    assert envelope.type == expected
    if kind is not samples.SampleKind.STATUS:
        assert envelope.payload["type"] == kind.value


def test_simulate_a_user_with_only_a_business_scoped_id(webhook: Webhook) -> None:
    result = CliRunner().invoke(
        cli, ["simulate", "--url", str(webhook.http.base_url), "--secret", SECRET.decode(),
              "--no-phone", "--user-id", "BR.1549083310287736"],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    (envelope,) = consume(webhook, 1)
    assert number_in(webhook.services.vault, envelope.payload["from_hash"]) is None


def test_simulate_with_the_wrong_secret_fails_visibly(webhook: Webhook) -> None:
    result = CliRunner().invoke(
        cli, ["simulate", "--url", str(webhook.http.base_url), "--secret", "wrong"]
    )

    assert result.exit_code == 1
    assert "401" in result.output


# --- invalid Unicode from Meta ----------------------------------------------------------


def test_a_lone_surrogate_in_a_customers_text_is_replaced_and_the_message_published(
    webhook: Webhook,
) -> None:
    """Meta retries a failed delivery for days: a text that cannot be encoded must not
    make the webhook fail, or every message of the delivery is lost with it."""
    message_id = samples.new_wamid()
    raw = samples.encode(text_body("PLACEHOLDER", message_id)).replace(
        b"PLACEHOLDER", b"oi \\ud83d tudo bem"
    )
    answer = webhook.post(raw)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "published"
    [received] = consume(webhook, 1)
    assert received.payload["body_sanitized"] == "oi \ufffd tudo bem"
