"""A person writing from the WhatsApp Business app on a Coexistence number (Meta echoes
it to the webhook, `smb_message_echoes`). The message goes into the session's log as
the HUMAN's, linked to its WhatsApp message id so that its delivery statuses find it,
and it counts as a human taking over: the bot must not answer over a person
who is typing from their phone. An operator's RELEASE gives the conversation back to
the bot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts.envelope import Actor
from contracts.events import (
    ControlChanged,
    LeadStatusChanged,
    MessageEchoed,
    WhatsAppMessageLinked,
)
from contracts.streams import lead_stream, session_stream, wamessage_stream
from contracts.vocabulary import LeadStatus, SessionMode
from domain.decision import Emit
from domain.inbound import Opening, session_for
from domain.lead import Lead
from domain.policy import ConversationPolicy
from domain.session import Session

APP_ASSIGNEE = "WhatsApp Business app"
"""The assignee of a takeover by an echo: whoever holds the business's phone."""
TAKEOVER_REASON = "a person wrote from the WhatsApp Business app"


@dataclass(frozen=True)
class Echo:
    """An echo as the worker received it."""

    input_id: str
    message: MessageEchoed
    sent_at: datetime
    """WhatsApp's timestamp."""


@dataclass(frozen=True)
class EchoRecorded:
    emits: list[Emit]
    session_id: str


def decide_echo(
    lead: Lead | None,
    session: Session | None,
    echo: Echo,
    now: datetime,
    policy: ConversationPolicy,
) -> EchoRecorded:
    """`session` is the lead's current session, if any. The echo belongs to the session
    a customer's message at the same time would (one is opened if none is open), and
    takes it over unless a human holds it already or it is closed."""
    message = echo.message
    opening = Opening(echo.input_id, message.to_hash, message.business_number_id)
    target, emits = session_for(lead, session, opening, echo.sent_at, now, policy)
    stream = session_stream(target.session_id)
    emits.append(Emit(stream, message, Actor.HUMAN, echo.sent_at))
    link = WhatsAppMessageLinked(session_id=target.session_id, outbound_id=message.outbound_id)
    emits.append(Emit(wamessage_stream(message.wa_message_ref), link, Actor.SYSTEM, now))
    if target.closed or target.mode is SessionMode.HUMAN_TAKEOVER:
        return EchoRecorded(emits, target.session_id)
    changed = ControlChanged(
        mode=SessionMode.HUMAN_TAKEOVER, human_assignee=APP_ASSIGNEE, reason=TAKEOVER_REASON,
        version=target.control_version + 1,
    )  # fmt: skip
    emits.append(Emit(stream, changed, Actor.HUMAN, now))
    status = _lead_status_after(lead, emits)
    if status not in (LeadStatus.IN_HUMAN, LeadStatus.CLOSED):
        in_human = LeadStatusChanged(
            status=LeadStatus.IN_HUMAN, previous_status=status, reason=TAKEOVER_REASON
        )
        emits.append(Emit(lead_stream(target.lead_id), in_human, Actor.HUMAN, now))
    return EchoRecorded(emits, target.session_id)


def _lead_status_after(lead: Lead | None, emits: list[Emit]) -> LeadStatus:
    """The lead's status once `emits` are applied (a new session may reopen it)."""
    status = lead.status if lead else LeadStatus.OPEN
    for emit in emits:
        if isinstance(emit.event, LeadStatusChanged):
            status = emit.event.status
    return status
