"""The whole conversation engine on one back end, in the test process: the real store,
bus and vault, the workers consuming their subscriptions, and what a customer and an
operator would do to it.

Inputs enter as in production: a customer's message is translated from a webhook body
(`ingress.inbound.translate`) and published on the `inbound` topic; a command is
accepted by `ingress.command_intake.submit_command` (durable, then on the `commands`
topic). Nothing is called around the bus.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from contracts import whatsapp as wa
from contracts.commands import OperatorCommand
from contracts.envelope import EventEnvelope
from contracts.operators import Operator, Role
from contracts.ports.bus import Bus, Consumer
from contracts.ports.channel import Channel
from contracts.ports.eventstore import EventStore
from contracts.ports.responder import Responder
from contracts.ports.snapshots import SnapshotStore
from contracts.ports.vault import Vault
from contracts.snapshots.command import Command
from contracts.streams import SYSTEM_STREAM, lead_stream, session_stream
from contracts.topics import INBOUND_TOPIC
from domain.ids import lead_id_for
from domain.lead import Lead, fold_lead
from domain.policy import ConversationPolicy
from domain.session import Session, fold_session
from domain.system import System, fold_system
from ingress import samples
from ingress.command_intake import command_status, submit_command
from ingress.inbound import translate
from ingress.services import IngressServices
from tests.backends import Backend
from workers.services import WorkerServices

T = TypeVar("T")

PHONE = "+5511999990001"
FAST = ConversationPolicy(reply_debounce=timedelta(0))
"""No debounce: a reply follows each message at once (tests of bursts set their own)."""


class TimedOut(AssertionError):
    pass


def eventually(probe: Callable[[], T | None], timeout: float = 20, what: str = "") -> T:
    """The first truthy value `probe` returns, polling; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimedOut(f"timed out after {timeout} s waiting for {what or probe}")
        time.sleep(0.02)


@dataclass
class Pipeline:
    backend: Backend
    store: EventStore
    bus: Bus
    vault: Vault
    responder: Responder
    channel: Channel
    policy: ConversationPolicy
    clock: Callable[[], datetime] = field(default=partial(datetime.now, UTC))
    consumers: list[Consumer] = field(default_factory=list)
    snapshots: SnapshotStore | None = None
    """With snapshots, `running` also runs the live projector."""

    @property
    def services(self) -> WorkerServices:
        return WorkerServices(
            store=self.store, bus=self.bus, vault=self.vault, responder=self.responder,
            channel=self.channel, clock=self.clock, policy=self.policy,
            snapshots=self.snapshots,
        )  # fmt: skip

    # --- a customer -------------------------------------------------------------------

    def webhook_envelopes(self, body: dict[str, Any]) -> list[EventEnvelope]:
        """What the webhook would publish for `body`."""
        parsed = wa.WebhookBody.model_validate(body)
        translation = translate(parsed, self.vault, datetime.now(UTC))
        assert not translation.rejected, [part.reason for part in translation.rejected]
        return list(translation.envelopes)

    def text(
        self, text: str, *, phone: str = PHONE, message_id: str | None = None,
        timestamp: int | None = None,
    ) -> list[EventEnvelope]:  # fmt: skip
        """The envelopes of one text message from `phone`, not yet published."""
        item = samples.message(
            "text", phone=phone, text=text, message_id=message_id, timestamp=timestamp
        )
        body = samples.body(samples.change(messages=[item], contacts=[samples.contact(phone)]))
        return self.webhook_envelopes(body)

    def say(self, text: str, *, phone: str = PHONE, **kwargs: Any) -> list[EventEnvelope]:
        """Publish one text message from `phone`, as the webhook does."""
        envelopes = self.text(text, phone=phone, **kwargs)
        self.bus.publish(INBOUND_TOPIC, envelopes)
        return envelopes

    # --- an operator --------------------------------------------------------------------

    def command(self, command: OperatorCommand, by: str = "ana", role: Role = Role.OPERATOR) -> str:
        """Submit `command` as the API does; its id."""
        operator = Operator(name=by, role=role, created_at=datetime.now(UTC))
        accepted = submit_command(self._ingress(), operator, command)
        return accepted.command_id

    def decided(self, command_id: str, timeout: float = 20) -> Command:
        def probe() -> Command | None:
            status = command_status(self._ingress(), command_id)
            return status if status.result is not None else None

        return eventually(probe, timeout, f"command {command_id} to be decided")

    def _ingress(self) -> IngressServices:
        return IngressServices(
            store=self.store, bus=self.bus, vault=self.vault, operators=_NoOperators(),
            clock=self.clock, whatsapp_verify_token="-", whatsapp_app_secret=b"-",
        )  # fmt: skip

    # --- what happened --------------------------------------------------------------------

    def lead(self, phone: str = PHONE) -> Lead | None:
        from_hash = self.vault.contact_hash(phone)
        return fold_lead(self.store.read(lead_stream(lead_id_for(from_hash))))

    def session_id(self, phone: str = PHONE, timeout: float = 20) -> str:
        lead = eventually(lambda: self.lead(phone), timeout, f"a lead for {phone}")
        return lead.session_id

    def events(self, session_id: str) -> list[EventEnvelope]:
        return self.store.read(session_stream(session_id))

    def session(self, session_id: str) -> Session:
        session = fold_session(self.events(session_id))
        assert session is not None
        return session

    def system(self) -> System:
        return fold_system(self.store.read(SYSTEM_STREAM))

    def types(self, session_id: str) -> list[str]:
        return [event.type for event in self.events(session_id)]

    def count(self, session_id: str, event_type: str) -> int:
        return self.types(session_id).count(event_type)

    def wait_for(
        self, session_id: str, event_type: str, count: int = 1, timeout: float = 20
    ) -> list[EventEnvelope]:
        """The session's events of `event_type`, once there are at least `count`."""

        def probe() -> list[EventEnvelope] | None:
            found = [e for e in self.events(session_id) if e.type == event_type]
            return found if len(found) >= count else None

        return eventually(probe, timeout, f"{count} x {event_type} in session {session_id}")

    def wait_all_sent(self, session_id: str, timeout: float = 20) -> int:
        """The number of outbounds claimed in the session, once there is one and every
        one of them is sent (a claim still on its way to the sender is waited for)."""

        def probe() -> int | None:
            types = self.types(session_id)
            claimed = types.count("OutboundClaimed")
            return claimed if claimed and types.count("OutboundSent") == claimed else None

        what = f"every claimed outbound of session {session_id} sent"
        return eventually(probe, timeout, what)


class _NoOperators:
    """The command intake takes the operator as given; it never looks one up."""

    def add(self, name: str, role: Role) -> str:
        raise NotImplementedError

    def authenticate(self, token: str) -> Operator | None:
        return None

    def list(self) -> list[Operator]:
        return []

    def revoke(self, name: str) -> Operator:
        raise NotImplementedError

    def open_session(self, token: str, now: datetime) -> str | None:
        return None

    def session(
        self, session_id: str, now: datetime, idle: timedelta, touch: bool = True
    ) -> Operator | None:
        return None

    def close_session(self, session_id: str) -> None:
        return None


@contextmanager
def running(pipeline: Pipeline, concurrency: int = 32) -> Iterator[Pipeline]:
    """The pipeline with its workers consuming; stopped (not closed) on exit."""
    from app.runtime import start_workers

    pipeline.consumers = start_workers(pipeline.services, concurrency=concurrency)
    if pipeline.snapshots is not None:
        from app.runtime import start_projector

        pipeline.consumers.append(start_projector(pipeline.store, pipeline.bus, pipeline.snapshots))
    try:
        yield pipeline
    finally:
        for consumer in pipeline.consumers:
            consumer.stop(timeout=10)
        pipeline.consumers = []


def isolated(backend: Backend) -> Backend:
    """`backend` with a Google project of its own on the emulators: the workers'
    fixed topic and subscription names then start empty, whatever earlier tests left.

    Its subscriptions have no retry policy: under a whole pipeline's load the Pub/Sub
    emulator (0.8.20) stops redelivering for good on a subscription that has one, a bug
    of its own (docs/pubsub.md, "The emulator"). The bus contract suite tests backoff."""
    if backend.kind != "gcp":
        return backend
    return replace(backend, project=f"sbt-{uuid.uuid4().hex[:12]}", retry_backoff_s=None)


@contextmanager
def pipeline_on(
    backend: Backend,
    responder: Responder,
    channel: Channel,
    policy: ConversationPolicy = FAST,
) -> Iterator[Pipeline]:
    """A pipeline on its own copy of `backend`, closed on exit (workers not started)."""
    backend = isolated(backend)
    store, bus, vault = backend.event_store(), backend.bus(), backend.vault()
    try:
        yield Pipeline(backend, store, bus, vault, responder, channel, policy)
    finally:
        bus.close()
        store.close()
