"""What the operators' inbox shows of a session, folded from the session's own stream:
who is waiting for a human and since when, how many messages no human has read, the
last message, and the keys the inbox sorts by.

- A **customer message** is a `MessageReceived` other than a reaction or a system
  notice (those acknowledge or inform; nobody has to answer them).
- A **human answer** is a message a person sent: an `OutboundClaimed` of kind OPERATOR
  (SEND_MESSAGE; it counts when claimed, as the message log shows it) or a
  `MessageEchoed` (someone writing from the WhatsApp Business app). The bot's replies
  and the flood warning are not: a customer answered only by the bot still waits for a
  human.
- `waiting_since`: when the first customer message since the last human answer was
  sent; None when there is none. `unread_count`: the customer messages since the last
  human answer (what a human has not answered, hence not read). Closing or expiring the
  session clears both: nobody answers a closed session (a customer writing again
  opens a new one).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contracts.envelope import Actor
from contracts.events import (
    MessageEchoed,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    OutboundClaimed,
    OutboundKind,
    SessionClosed,
    SessionExpired,
)
from contracts.snapshots.session import CLOSED_END, OPEN_END, SessionState
from contracts.vocabulary import MessageType, SessionStatus

PREVIEW_CHARS = 120
DELETED = "[deleted]"
_PLAIN = frozenset({MessageType.TEXT, MessageType.INTERACTIVE, MessageType.BUTTON})
"""Types whose `body_sanitized` is the message itself; any other is shown by its type."""
_NOT_WAITING = frozenset({MessageType.REACTION, MessageType.SYSTEM})
_ACTOR_OF = {OutboundKind.REPLY: Actor.LLM, OutboundKind.FLOOD_WARNING: Actor.SYSTEM,
             OutboundKind.OPERATOR: Actor.HUMAN}  # fmt: skip


def preview(type: MessageType, body: str | None) -> str:
    """`body_sanitized`, clipped to `PREVIEW_CHARS`; `[image]` (and the caption) for a
    message that is not text."""
    text = body or ""
    if type not in _PLAIN or not text:
        text = f"[{type.value}] {text}".strip()
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def is_customer_message(event: object) -> bool:
    return isinstance(event, MessageReceived) and event.type not in _NOT_WAITING


def is_human_answer(event: object) -> bool:
    if isinstance(event, OutboundClaimed):
        return event.kind is OutboundKind.OPERATOR
    return isinstance(event, MessageEchoed)


def inbox_changes(
    session: SessionState, event: object, at: datetime, last_ref: str | None
) -> tuple[dict[str, Any], str | None]:
    """The inbox fields `event` changes, and the WhatsApp ref of the last message (an
    edit or deletion of it changes the preview)."""
    changes: dict[str, Any] = {}
    closed = session.state in (SessionStatus.CLOSED, SessionStatus.EXPIRED)
    if is_customer_message(event) and not closed:
        changes = {"waiting_since": session.waiting_since or at,
                   "unread_count": session.unread_count + 1}  # fmt: skip
    elif is_human_answer(event) or isinstance(event, SessionClosed | SessionExpired):
        changes = {"waiting_since": None, "unread_count": 0}
    if isinstance(event, MessageReceived | MessageEchoed):
        last_ref = event.wa_message_ref
        actor = Actor.USER if isinstance(event, MessageReceived) else Actor.HUMAN
        changes |= {"last_message_at": at, "last_message_actor": actor,
                    "last_message_preview": preview(event.type, event.body_sanitized)}  # fmt: skip
    elif isinstance(event, OutboundClaimed):
        last_ref = None
        changes |= {"last_message_at": at, "last_message_actor": _ACTOR_OF[event.kind],
                    "last_message_preview": preview(MessageType.TEXT, event.text)}  # fmt: skip
    elif isinstance(event, MessageRevoked) and event.original_ref == last_ref:
        changes["last_message_preview"] = DELETED
    elif isinstance(event, MessageEdited) and event.original_ref == last_ref:
        changes["last_message_preview"] = preview(MessageType.TEXT, event.body_sanitized)
    return changes, last_ref


def sort_keys(session: SessionState) -> dict[str, Any]:
    """Top-level fields the inbox filters and sorts by in the store: `closed`, and
    `wait_rank` (see `OPEN_END`)."""
    closed = session.state in (SessionStatus.CLOSED, SessionStatus.EXPIRED)
    if session.waiting_since is not None and not closed:
        rank = _micros(session.waiting_since)
    else:
        base = CLOSED_END if closed else OPEN_END
        rank = base - _micros(session.last_message_at or session.started_at)
    return {"closed": closed, "wait_rank": rank}


def _micros(at: datetime) -> int:
    delta = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
