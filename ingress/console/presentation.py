"""Words for what the read models hold: every state the console shows is said in text
(and a symbol), never by colour alone."""

from __future__ import annotations

from datetime import datetime

from contracts.envelope import Actor
from contracts.snapshots.messages import MessageLogEntry
from contracts.vocabulary import MessageStatus, MessageType, SessionMode

ACTOR_LABEL = {
    Actor.USER: "Customer",
    Actor.LLM: "Bot",
    Actor.HUMAN: "Operator",
    Actor.SYSTEM: "System",
}

TICKS = {
    MessageStatus.RECEIVED: ("", "received"),
    MessageStatus.PENDING: ("…", "sending"),
    MessageStatus.SENT: ("✓", "sent"),
    MessageStatus.DELIVERED: ("✓✓", "delivered"),
    MessageStatus.READ: ("✓✓", "read"),
    MessageStatus.FAILED: ("✗", "failed"),
    MessageStatus.UNKNOWN: ("?", "may not have been sent: check"),
}

SEND_ERRORS = {
    131047: "more than 24 hours since the customer last wrote: only a template may be sent",
    131026: "the message could not be delivered (the number may not use WhatsApp)",
    131051: "WhatsApp does not support this message type",
    131000: "something went wrong at WhatsApp",
    131048: "spam rate limit: too many messages refused by recipients",
    131049: "WhatsApp chose not to deliver it, to keep engagement healthy",
    131056: "too many messages to this customer in a short time",
    130429: "the business line's rate limit was reached",
    131031: "the business account is locked",
    131053: "the media could not be uploaded",
    131042: "a payment problem on the business account",
    131021: "the recipient is the sender",
    368: "the business account is temporarily blocked for policy violations",
}


def mode_text(mode: SessionMode, assignee: str | None) -> str:
    if mode is SessionMode.HUMAN_TAKEOVER:
        return f"Human: {assignee}" if assignee else "Human"
    if mode is SessionMode.PAUSED_SESSION:
        return "Paused"
    return "Bot"


def ticks(entry: MessageLogEntry) -> tuple[str, str]:
    symbol, words = TICKS[entry.status]
    if entry.status is MessageStatus.FAILED:
        code = next((c.error_code for c in reversed(entry.status_history) if c.error_code), None)
        if code is not None:
            words = f"failed (error {code}: {SEND_ERRORS.get(code, 'see Meta error codes')})"
    return symbol, words


def placeholder(entry: MessageLogEntry) -> str | None:
    """What stands in for content that is not text (media is never downloaded)."""
    if entry.type is MessageType.TEXT:
        return None
    if entry.media is not None:
        return f"[{entry.type.value}: {entry.media.mime_type}]"
    if entry.location is not None:
        place = entry.location.name or entry.location.address or ""
        return f"[location{': ' + place if place else ''}]"
    if entry.reaction is not None:
        return (
            f"[reaction {entry.reaction.emoji}]" if entry.reaction.emoji else "[reaction removed]"
        )
    return f"[{entry.type.value}]"


def ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "—"
    seconds = int((now - moment).total_seconds())
    if seconds < 60:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def clock(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def short_hash(from_hash: str) -> str:
    return f"#{from_hash[:8]}"


def words(value: object) -> str:
    """An enum's value as words: `READY_FOR_HUMAN` → `ready for human`."""
    text = getattr(value, "value", value)
    return str(text).replace("_", " ").lower()


def waited(since: datetime | None, now: datetime) -> str | None:
    """How long the customer has waited for a human's answer; None when nobody waits."""
    if since is None:
        return None
    return "waiting " + _span(int((now - since).total_seconds()), "under a minute")


def window_left(expires: datetime | None, now: datetime) -> str | None:
    """What is left of WhatsApp's 24 h window, in which a free-form reply may be sent."""
    if expires is None:
        return None
    if expires <= now:
        return "window closed"
    return f"window {_span(int((expires - now).total_seconds()), 'under 1 min')} left"


def _span(seconds: int, shortest: str) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return shortest
