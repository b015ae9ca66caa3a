"""What the operators' inbox shows of a session, folded from the session's own stream:
who is waiting for a human and since when, how many messages no human has read, the
last message, and the keys the inbox sorts by.

- A **customer message** is a `MessageReceived` other than a reaction or a system
  notice (those acknowledge or inform; nobody has to answer them).
- A **human answer** is a message a person sent: an `OutboundClaimed` of kind OPERATOR
  (SEND_MESSAGE; it counts when claimed, as the message log shows it, unless it then
  fails: `OutboundFailed`, e.g. the 24-hour window closed, and the customer waits as if
  it had not been written) or a `MessageEchoed` (someone writing from the WhatsApp
  Business app). The bot's replies and the flood warning are not: a customer answered
  only by the bot still waits for a human. A `failed` delivery status reported later by
  WhatsApp does not reopen the wait (the message log shows it).
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
    OutboundFailed,
    OutboundKind,
    OutboundSent,
    SessionClosed,
    SessionExpired,
)
from contracts.snapshots.session import CLOSED_END, OPEN_END, SessionState
from contracts.vocabulary import MessageType, SessionStatus

PREVIEW_CHARS = 120
ANSWERS_KEPT = 50
"""Operators' answers claimed and not yet sent that the fold remembers."""
Memo = dict[str, Any]
Answer = tuple[str, str | None, int]
"""An operator's answer not yet sent: its outbound id, and the `waiting_since` (ISO)
and `unread_count` it cleared."""
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


def inbox_changes(
    session: SessionState, event: object, at: datetime, memo: Memo
) -> tuple[dict[str, Any], Memo]:
    """The inbox fields `event` changes, and the fold's memo: the WhatsApp ref of the
    last message (an edit or deletion of it changes the preview), and the operators'
    answers not yet sent, each with what it cleared (restored if it fails)."""
    last_ref: str | None = memo.get("last_ref")
    answers: list[Answer] = [tuple(answer) for answer in memo.get("answers", [])]
    closed = session.state in (SessionStatus.CLOSED, SessionStatus.EXPIRED)
    changes: dict[str, Any] = {}
    cleared = {"waiting_since": None, "unread_count": 0}
    if is_customer_message(event) and not closed:
        changes = {"waiting_since": session.waiting_since or at,
                   "unread_count": session.unread_count + 1}  # fmt: skip
    elif isinstance(event, OutboundClaimed) and event.kind is OutboundKind.OPERATOR:
        waited = session.waiting_since.isoformat() if session.waiting_since else None
        answers = [*answers, (event.outbound_id, waited, session.unread_count)][-ANSWERS_KEPT:]
        changes = cleared
    elif isinstance(event, MessageEchoed | SessionClosed | SessionExpired):
        answers, changes = [], cleared
    elif isinstance(event, OutboundSent):
        sent = [answer[0] for answer in answers]
        if event.outbound_id in sent:  # it stands: the answers before it no longer matter
            answers = answers[sent.index(event.outbound_id) + 1 :]
    elif isinstance(event, OutboundFailed):
        answers, changes = _failed(session, answers, event.outbound_id)
    changes |= _last_message(event, at, last_ref)
    if isinstance(event, MessageReceived | MessageEchoed):
        last_ref = event.wa_message_ref
    elif isinstance(event, OutboundClaimed):
        last_ref = None
    return changes, {"last_ref": last_ref, "answers": [list(answer) for answer in answers]}


def _failed(
    session: SessionState, answers: list[Answer], outbound_id: str
) -> tuple[list[Answer], dict[str, Any]]:
    """An operator's answer that never left: the customer waits as if it had not been
    written. When a later answer stands in for it, that one takes over what it had
    cleared."""
    ids = [answer[0] for answer in answers]
    if outbound_id not in ids:
        return answers, {}
    at = ids.index(outbound_id)
    _, waited, unread = answers.pop(at)
    if at < len(answers):
        later_id, later_waited, later_unread = answers[at]
        answers[at] = (later_id, waited or later_waited, unread + later_unread)
        return answers, {}
    since = datetime.fromisoformat(waited) if waited else session.waiting_since
    return answers, {"waiting_since": since, "unread_count": unread + session.unread_count}


def _last_message(event: object, at: datetime, last_ref: str | None) -> dict[str, Any]:
    if isinstance(event, MessageReceived | MessageEchoed):
        actor = Actor.USER if isinstance(event, MessageReceived) else Actor.HUMAN
        return {"last_message_at": at, "last_message_actor": actor,
                "last_message_preview": preview(event.type, event.body_sanitized)}  # fmt: skip
    if isinstance(event, OutboundClaimed):
        return {"last_message_at": at, "last_message_actor": _ACTOR_OF[event.kind],
                "last_message_preview": preview(MessageType.TEXT, event.text)}  # fmt: skip
    if isinstance(event, MessageRevoked) and event.original_ref == last_ref:
        return {"last_message_preview": DELETED}
    if isinstance(event, MessageEdited) and event.original_ref == last_ref:
        return {"last_message_preview": preview(MessageType.TEXT, event.body_sanitized)}
    return {}


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
