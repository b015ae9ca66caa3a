"""Showing an admin a lead's phone number: audited before it is shown."""

from __future__ import annotations

import uuid

import structlog

from contracts.envelope import Actor, NewEvent
from contracts.events.lead import LeadOpened, PhoneRevealed
from contracts.operators import Operator
from contracts.ports.eventstore import ConcurrencyError
from contracts.streams import lead_stream
from ingress.errors import Forbidden, Gone, NotFound
from ingress.services import IngressServices

log = structlog.get_logger(__name__)

NO_PHONE = "no phone number is known for this lead; it is reachable by its business-scoped id"


def reveal_phone(services: IngressServices, operator: Operator, lead_id: str, reason: str) -> str:
    """The number in clear. The `PhoneRevealed` audit event is durable before the
    number leaves this function: no audit, no number."""
    if not operator.is_admin:
        raise Forbidden("only an admin may reveal a phone number")
    stream = lead_stream(lead_id)
    audit_id = uuid.uuid4().hex
    while True:
        events = services.store.read(stream)
        opened = next((e.event() for e in events if e.type == LeadOpened.TYPE), None)
        if not isinstance(opened, LeadOpened):
            raise NotFound(f"no lead {lead_id!r}")
        identity = services.vault.reveal(opened.from_hash)
        if identity is None:
            raise Gone(f"the phone number of lead {lead_id!r} was forgotten")
        number = identity.e164
        if number is None:
            raise NotFound(NO_PHONE)
        now = services.clock()
        audit = NewEvent.of(
            PhoneRevealed(by=operator.name, reason=reason),
            event_id=audit_id,
            occurred_at=now,
            actor=Actor.HUMAN,
            correlation_id=audit_id,
        )
        try:
            services.store.append(stream, [audit], expected_version=len(events))
        except ConcurrencyError:
            continue  # the lead moved on meanwhile; read it again
        log.info("phone_revealed", lead_id=lead_id, operator=operator.name)
        return number
