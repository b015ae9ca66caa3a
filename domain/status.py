"""WhatsApp's delivery reports on our messages. A status never goes back: a READ
message does not become DELIVERED because the reports arrived out of order."""

from __future__ import annotations

from datetime import datetime

from contracts.envelope import Actor
from contracts.events import (
    MessageStatusUpdated,
    WhatsAppStatusReported,
    WhatsAppStatusUnmatched,
)
from contracts.streams import session_stream, wamessage_stream
from contracts.vocabulary import MessageStatus
from domain.decision import Emit
from domain.session import Session

_RANK = {
    MessageStatus.PENDING: 0,
    MessageStatus.UNKNOWN: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.READ: 3,
}
"""FAILED is apart: it can follow SENT (a late failure), not DELIVERED or READ."""


def moves_forward(current: MessageStatus, reported: MessageStatus) -> bool:
    if current is MessageStatus.FAILED:
        return False
    if reported is MessageStatus.FAILED:
        return _RANK[current] < _RANK[MessageStatus.DELIVERED]
    return _RANK[reported] > _RANK[current]


def decide_status(
    session: Session, outbound_id: str, report: WhatsAppStatusReported, reported_at: datetime
) -> list[Emit]:
    """`reported_at` is WhatsApp's time of the status (when it was delivered or read),
    which the update carries, not the time it was processed."""
    outbound = session.outbounds.get(outbound_id)
    if outbound is None or not moves_forward(outbound.status, report.status):
        return []
    updated = MessageStatusUpdated(
        outbound_id=outbound_id,
        wa_message_ref=report.wa_message_ref,
        status=report.status,
        error_code=report.error_code,
        error_title=report.error_title,
    )
    return [Emit(session_stream(session.session_id), updated, Actor.SYSTEM, reported_at)]


def decide_unmatched(report: WhatsAppStatusReported, reported_at: datetime) -> list[Emit]:
    """A status of a message no outbound was linked to within the linking grace
    period: recorded on the message id's stream, once, and nothing else happens."""
    unmatched = WhatsAppStatusUnmatched(
        status=report.status,
        error_code=report.error_code,
        business_number_id=report.business_number_id,
    )
    return [Emit(wamessage_stream(report.wa_message_ref), unmatched, Actor.SYSTEM, reported_at)]
