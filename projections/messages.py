"""`messages/{session_id}:{seq}`: the message log the console shows, one entry per
inbound message, per outbound claimed and per echo of a message a person sent from the
WhatsApp Business app (channel WHATSAPP_APP), keyed by the session-stream version that
created it (stable across rebuilds). An outbound's entry follows its status; an inbound
one is marked deleted, or shows its new text, when the customer deletes or edits it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from contracts.envelope import Actor
from contracts.events import (
    MessageEchoed,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    MessageStatusUpdated,
    OutboundClaimed,
    OutboundFailed,
    OutboundKind,
    OutboundOutcomeUnknown,
    OutboundSent,
    OutboundSuppressed,
)
from contracts.ports.snapshots import Document, Put, Write
from contracts.snapshots.messages import MessageLogEntry, StatusChange
from contracts.streams import StreamKind, stream_kind
from contracts.vocabulary import Channel, Direction, MessageStatus, MessageType
from projections.projection import Recorded, changed_at

MESSAGES = "messages"
_JSON_TIME = TypeAdapter(datetime)

_ACTOR_OF = {
    OutboundKind.REPLY: Actor.LLM,
    OutboundKind.FLOOD_WARNING: Actor.SYSTEM,
    OutboundKind.OPERATOR: Actor.HUMAN,
}


def message_id(session_id: str, seq: int) -> str:
    """Sorts in conversation order."""
    return f"{session_id}:{seq:08d}"


def _inbound_key(ref: str) -> str:
    """The state's key of an inbound entry: `:` is in no outbound id."""
    return f"in:{ref}"


class MessagesProjection:
    name = "messages"
    collections = (MESSAGES,)

    def handles(self, stream_id: str) -> bool:
        return stream_kind(stream_id) == StreamKind.SESSION

    def fold(self, state: Document, events: Sequence[Recorded]) -> tuple[Document, list[Write]]:
        """The state maps each outbound id to its entry, as last written, and each
        inbound message's ref to its seq, text and earlier texts (what an edit needs)."""
        changed: dict[str, MessageLogEntry] = {}  # document id -> entry
        stamps: dict[str, str] = {}  # document id -> when its last change was recorded
        amended: dict[str, dict[str, Any]] = {}  # document id -> fields, of earlier entries
        outbounds = dict(state)
        for recorded in events:
            if isinstance(recorded.event, MessageRevoked | MessageEdited):
                _amend(recorded, outbounds, changed, stamps, amended)
                continue
            entry = _entry(recorded, outbounds, changed)
            if entry is None:
                continue
            doc_id = message_id(entry.session_id, entry.seq)
            changed[doc_id], stamps[doc_id] = entry, changed_at(recorded)
            if entry.outbound_id is not None:
                outbounds[entry.outbound_id] = entry
            elif entry.wa_message_ref is not None:
                inbound: dict[str, Any] = {
                    "seq": entry.seq,
                    "body": entry.body_sanitized,
                    "edits": [],
                }
                outbounds[_inbound_key(entry.wa_message_ref)] = inbound
        writes: list[Write] = [
            Put(MESSAGES, doc_id, fields, merge=True) for doc_id, fields in amended.items()
        ]
        for doc_id, entry in changed.items():
            data = entry.model_dump(mode="json")
            if entry.outbound_id is not None:
                outbounds[entry.outbound_id] = data
            writes.append(Put(MESSAGES, doc_id, {**data, "updated_at": stamps[doc_id]}))
        return outbounds, writes


def _entry(
    recorded: Recorded, outbounds: dict[str, Any], changed: dict[str, MessageLogEntry]
) -> MessageLogEntry | None:
    """The entry `recorded` creates or changes, if any."""
    envelope, event = recorded.envelope, recorded.event
    session_id = envelope.stream_id.removeprefix("session-")
    at = envelope.occurred_at
    if isinstance(event, MessageReceived):
        return MessageLogEntry(
            session_id=session_id, seq=envelope.version, direction=Direction.IN,
            type=event.type, body_sanitized=event.body_sanitized, actor=Actor.USER,
            wa_message_ref=event.wa_message_ref, status=MessageStatus.RECEIVED,
            media=event.media, location=event.location, reaction=event.reaction,
            interactive=event.interactive, context=event.context, order=event.order,
            correlation_id=envelope.correlation_id, created_at=at,
        )  # fmt: skip
    if isinstance(event, MessageEchoed):  # a person, from the WhatsApp Business app
        return MessageLogEntry(
            session_id=session_id, seq=envelope.version, direction=Direction.OUT,
            channel=Channel.WHATSAPP_APP, type=event.type, body_sanitized=event.body_sanitized,
            actor=Actor.HUMAN, wa_message_ref=event.wa_message_ref, status=MessageStatus.SENT,
            outbound_id=event.outbound_id,
            status_history=(StatusChange(status=MessageStatus.SENT, at=at),),
            media=event.media, location=event.location,
            correlation_id=envelope.correlation_id, created_at=at,
        )  # fmt: skip
    if isinstance(event, OutboundClaimed):
        return MessageLogEntry(
            session_id=session_id, seq=envelope.version, direction=Direction.OUT,
            type=MessageType.TEXT, body_sanitized=event.text, actor=_ACTOR_OF[event.kind],
            sent_by=event.by, outbound_id=event.outbound_id, status=MessageStatus.PENDING,
            status_history=(StatusChange(status=MessageStatus.PENDING, at=at),),
            correlation_id=envelope.correlation_id, created_at=at,
        )  # fmt: skip
    change = _status_change(event, at)
    outbound_id = getattr(event, "outbound_id", None)
    if change is None or outbound_id not in outbounds:
        return None
    known = outbounds[outbound_id]
    entry = known if isinstance(known, MessageLogEntry) else MessageLogEntry.model_validate(known)
    ref = event.wa_message_ref if isinstance(event, OutboundSent) else entry.wa_message_ref
    return entry.model_copy(
        update={
            "status": change.status,
            "status_history": (*entry.status_history, change),
            "wa_message_ref": ref,
        }
    )


def _amend(
    recorded: Recorded,
    state: dict[str, Any],
    changed: dict[str, MessageLogEntry],
    stamps: dict[str, str],
    amended: dict[str, dict[str, Any]],
) -> None:
    """Mark the original deleted, or show its new text and keep the one it replaces.
    An original this session's log does not hold (an earlier session's) is left as is."""
    envelope, event = recorded.envelope, recorded.event
    assert isinstance(event, MessageRevoked | MessageEdited)
    known = state.get(_inbound_key(event.original_ref))
    if known is None:
        return
    at = _JSON_TIME.dump_python(envelope.occurred_at, mode="json")  # as the entry writes it
    if isinstance(event, MessageRevoked):
        fields: dict[str, Any] = {"deleted_at": at}
    else:
        edits = [*known["edits"], {"body_sanitized": known["body"], "replaced_at": at}]
        state[_inbound_key(event.original_ref)] = {
            **known, "body": event.body_sanitized, "edits": edits
        }  # fmt: skip
        fields = {"body_sanitized": event.body_sanitized, "edits": edits}
    doc_id = message_id(envelope.stream_id.removeprefix("session-"), known["seq"])
    if doc_id in changed:
        written = changed[doc_id].model_dump(mode="json")
        changed[doc_id] = MessageLogEntry.model_validate({**written, **fields})
        stamps[doc_id] = changed_at(recorded)
    else:
        amended[doc_id] = {**amended.get(doc_id, {}), **fields, "updated_at": changed_at(recorded)}


def _status_change(event: object, at: datetime) -> StatusChange | None:
    status: Any
    code = None
    if isinstance(event, OutboundSent):
        status = MessageStatus.SENT
    elif isinstance(event, MessageStatusUpdated):
        status, code = event.status, event.error_code
    elif isinstance(event, OutboundFailed):
        status, code = MessageStatus.FAILED, event.error_code
    elif isinstance(event, OutboundOutcomeUnknown):
        status = MessageStatus.UNKNOWN
    elif isinstance(event, OutboundSuppressed):
        status = MessageStatus.SUPPRESSED
    else:
        return None
    return StatusChange(status=status, at=at, error_code=code)
