"""An outbound's way out, at most once (invariant 3).

Before the API is called, `OutboundSendStarted` is recorded; for an automatic message
the gate is checked again in that same transaction. An outbound found started but not
settled was interrupted mid-send: it may or may not have reached the customer, so it
is marked for an operator and never resent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.envelope import Actor, Event
from contracts.events import (
    OutboundFailed,
    OutboundKind,
    OutboundOutcomeUnknown,
    OutboundSendStarted,
    OutboundSent,
    OutboundSuppressed,
    WhatsAppMessageLinked,
)
from contracts.ports.channel import WINDOW_CLOSED_CODE, Ambiguous, Refused, SendOutcome, Sent
from contracts.streams import session_stream, wamessage_stream
from contracts.vocabulary import DIAGNOSTIC_MAX
from domain.decision import Emit
from domain.gate import closed_because
from domain.sanitize import sanitize_within
from domain.session import Session
from domain.system import System

INTERRUPTED = (
    "the send started but its result was never recorded (the sender stopped mid-send): "
    "check WhatsApp before sending it again"
)
WINDOW_CLOSED = "the 24-hour customer window is closed: a free-form message cannot be sent"


@dataclass(frozen=True)
class SendStep:
    emits: list[Emit]
    send: bool
    """Call the channel now: `OutboundSendStarted` is among `emits`."""
    in_progress_until: datetime | None = None
    """Another delivery is sending it: look again after it settles or at this time."""


def decide_send(
    system: System, session: Session, outbound_id: str, now: datetime, send_lease: timedelta
) -> SendStep:
    """What to do with a claimed outbound the sender was handed (perhaps again). A send
    found started and unsettled within `send_lease` is in progress in another delivery;
    past it, it was interrupted."""
    outbound = session.outbounds.get(outbound_id)
    if outbound is None or outbound.settled:
        return SendStep([], send=False)
    stream = session_stream(session.session_id)

    def settle(event: Event, actor: Actor = Actor.SYSTEM) -> SendStep:
        return SendStep([Emit(stream, event, actor, now)], send=False)

    if outbound.started_at is not None:
        lease_ends = outbound.started_at + send_lease
        if now < lease_ends:
            return SendStep([], send=False, in_progress_until=lease_ends)
        return settle(OutboundOutcomeUnknown(outbound_id=outbound_id, reason=INTERRUPTED))
    if outbound.kind is OutboundKind.OPERATOR:
        if not session.window_open(now):
            return settle(
                OutboundFailed(
                    outbound_id=outbound_id, error_code=WINDOW_CLOSED_CODE, reason=WINDOW_CLOSED
                )
            )
    else:
        allowed = outbound.kind is OutboundKind.FLOOD_WARNING
        reason = closed_because(
            system, session, outbound.control_version, now, in_cooldown_allowed=allowed
        )
        if reason is not None:
            return settle(
                OutboundSuppressed(
                    outbound_id=outbound_id, reason=reason, detail="stopped before its send"
                )
            )
    started = OutboundSendStarted(
        outbound_id=outbound_id,
        control_version=session.control_version,
        global_version=system.control_version,
    )
    return SendStep([Emit(stream, started, Actor.SYSTEM, now)], send=True)


def settle_send(
    session: Session, outbound_id: str, outcome: SendOutcome, wa_message_ref: str | None,
    now: datetime,
) -> list[Emit]:  # fmt: skip
    """What the channel answered, recorded. `wa_message_ref` is the ref of a `Sent`'s
    id. Recorded even over an UNKNOWN (a lease that ran out on a slow send): what the
    channel said settles what nobody knew."""
    stream = session_stream(session.session_id)
    if isinstance(outcome, Sent):
        assert wa_message_ref is not None
        sent = OutboundSent(outbound_id=outbound_id, wa_message_ref=wa_message_ref)
        link = WhatsAppMessageLinked(session_id=session.session_id, outbound_id=outbound_id)
        return [
            Emit(stream, sent, Actor.SYSTEM, now),
            Emit(wamessage_stream(wa_message_ref), link, Actor.SYSTEM, now),
        ]
    if isinstance(outcome, Refused):
        failed = OutboundFailed(
            outbound_id=outbound_id, error_code=outcome.error_code,
            reason=sanitize_within(outcome.reason, DIAGNOSTIC_MAX),
        )  # fmt: skip
        return [Emit(stream, failed, Actor.SYSTEM, now)]
    assert isinstance(outcome, Ambiguous)
    reason = sanitize_within(outcome.reason, DIAGNOSTIC_MAX)
    unknown = OutboundOutcomeUnknown(outbound_id=outbound_id, reason=reason)
    return [Emit(stream, unknown, Actor.SYSTEM, now)]
