"""The words events, commands and snapshots share: enums and constrained scalars.

One definition each, so that a mode, a status or an id means the same thing in an
event payload, an operator command and the snapshot an operator reads.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, Strict, StringConstraints

# --- identifiers -------------------------------------------------------------------


def _not_a_reserved_name(value: str) -> str:
    """`.` and `..` are path segments, and `__x__` names are reserved by Firestore: none
    can name a document, so none is an id (a request for `/api/sessions/%2e%2e` is a
    422, not a store error)."""
    if value in (".", "..") or (len(value) >= 4 and value[:2] == value[-2:] == "__"):
        raise ValueError("an id cannot be '.', '..' or of the form __name__")
    return value


EntityId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_.~+=-]{1,160}$"),
    AfterValidator(_not_a_reserved_name),
]
"""Id of a session, lead, command, outbound or cooldown. Same charset as stream ids
(`contracts.streams`), so `session-<id>` is always a valid stream."""

ContactHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
"""`from_hash`: HMAC-SHA256 (hex) of the contact's normalised identity. The only way a
contact is named outside the vault; a phone number does not fit this pattern."""

WaMessageRef = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
"""A WhatsApp message, named by the keyed hash of its id (`Vault.message_ref`), never by
the id itself: a `wamid.…` is base64 of a record that holds the customer's number in
clear. The same id always gives the same ref, so redeliveries, statuses and replies
still find their message."""

OperatorId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
"""The operator's name as registered with `switchboard operators add`."""

Intent = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
"""What the responder understood the customer wants (`greeting`, `pricing`, ...): a
slug, so that metrics count intents without spelling variants."""

# --- scalars -----------------------------------------------------------------------


def clipped_to(limit: int) -> BeforeValidator:
    """Cut text that comes from outside (API errors, customer content) to `limit`
    instead of rejecting it: an overlong error message must not make a worker fail
    forever, nor an overlong caption lose a customer's message."""

    def clip(value: object) -> object:
        return value[:limit] if isinstance(value, str) else value

    return BeforeValidator(clip)


CUSTOMER_WINDOW = timedelta(hours=24)
"""WhatsApp's customer service window: free-form messages only this long after the
customer's last message."""

REASON_MAX = 500
NOTE_MAX = 4000
MESSAGE_MAX = 4096

Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=REASON_MAX)
]
"""Why something was done, in words an operator reads in the audit trail."""

MessageText = Annotated[str, StringConstraints(min_length=1, max_length=MESSAGE_MAX, pattern=r"\S")]
"""Text sent to a customer: WhatsApp's limit is 4096 characters; blank is not a message."""

DIAGNOSTIC_MAX = 1000

Diagnostic = Annotated[
    str,
    clipped_to(DIAGNOSTIC_MAX),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=DIAGNOSTIC_MAX),
]
"""What the system says about an outcome (an API error, a command's result): clipped,
never refused."""

SanitizedText = Annotated[str, clipped_to(8192), StringConstraints(max_length=8192)]
"""`body_sanitized`: a message's text with phone numbers, e-mail addresses, CPF/CNPJ
and card numbers masked by the ingress."""

NoteText = Annotated[str, StringConstraints(min_length=1, max_length=NOTE_MAX, pattern=r"\S")]

SealedText = Annotated[
    str, StringConstraints(min_length=4, max_length=24_000, pattern=r"^[A-Za-z0-9+/]+={0,2}$")
]
"""Text sealed for one contact (`Vault.seal_for`), base64: an operator's message as
typed, which only the sender opens; forgetting the contact makes it unreadable."""

Confidence = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]

WhatsAppErrorCode = Annotated[int, Field(ge=0)]
"""An error code of the WhatsApp Cloud API (e.g. 131047: the 24-hour window is closed)."""

INT64_MAX = 2**63 - 1

ControlVersion = Annotated[int, Strict(), Field(ge=0, le=INT64_MAX)]
"""Compare-and-set version of a session's or the system's control; 0 before any change.
Strict: a guard is a JSON integer in the stores' range, never `"1"`, `true` or `1.0`."""

# --- modes and statuses ------------------------------------------------------------


class SessionMode(StrEnum):
    LLM_ACTIVE = "LLM_ACTIVE"
    HUMAN_TAKEOVER = "HUMAN_TAKEOVER"
    PAUSED_SESSION = "PAUSED_SESSION"


class GlobalMode(StrEnum):
    LLM_ACTIVE = "LLM_ACTIVE"
    PAUSED_GLOBAL = "PAUSED_GLOBAL"


class SessionStatus(StrEnum):
    """Where a conversation episode is. Orthogonal to `SessionMode`: a session in
    cooldown may be under takeover, and a closed one keeps its last mode."""

    ACTIVE = "ACTIVE"
    COOLDOWN_ACTIVE = "COOLDOWN_ACTIVE"
    CLOSED = "CLOSED"
    EXPIRED = "EXPIRED"


class SessionOutcome(StrEnum):
    SELF_SERVE_INFO = "SELF_SERVE_INFO"
    QUALIFIED = "QUALIFIED"
    NOT_QUALIFIED = "NOT_QUALIFIED"
    NOT_INTERESTED = "NOT_INTERESTED"
    UNRESPONSIVE = "UNRESPONSIVE"
    SPAM = "SPAM"
    OTHER = "OTHER"


class LeadStatus(StrEnum):
    OPEN = "OPEN"
    QUALIFYING = "QUALIFYING"
    READY_FOR_HUMAN = "READY_FOR_HUMAN"
    IN_HUMAN = "IN_HUMAN"
    CLOSED = "CLOSED"


class ServiceInterest(StrEnum):
    CUSTOM_SOFTWARE = "CUSTOM_SOFTWARE"
    SAAS_ADAPTABLE = "SAAS_ADAPTABLE"
    TRAFFIC_PROFILE = "TRAFFIC_PROFILE"
    OTHER = "OTHER"


class LeadField(StrEnum):
    """The business fields a lead collects. `service_interest` is one of them so that
    one acceptance rule (and one audit trail) covers every value the bot extracts."""

    SERVICE_INTEREST = "service_interest"
    COMPANY_NAME = "company_name"
    CITY = "city"
    BUDGET_RANGE = "budget_range"
    DEADLINE = "deadline"
    PAIN_POINTS = "pain_points"


class FieldSource(StrEnum):
    USER = "USER"
    LLM = "LLM"


class Priority(StrEnum):
    LOW = "LOW"
    NORMAL = "NORMAL"
    HIGH = "HIGH"
    URGENT = "URGENT"


class HandoffReason(StrEnum):
    USER_REQUESTED = "USER_REQUESTED"
    QUALIFIED = "QUALIFIED"
    RESPONDER_REQUESTED = "RESPONDER_REQUESTED"
    OPERATOR_MARKED = "OPERATOR_MARKED"


class FloodLevel(StrEnum):
    LIGHT = "LIGHT"
    MEDIUM = "MEDIUM"
    HEAVY = "HEAVY"


# --- messages ----------------------------------------------------------------------


class Direction(StrEnum):
    IN = "IN"
    OUT = "OUT"


class Channel(StrEnum):
    WHATSAPP = "WHATSAPP"
    """Through the Cloud API: the customer's messages, and what Switchboard sends."""
    WHATSAPP_APP = "WHATSAPP_APP"
    """Sent by a person from the WhatsApp Business app (or a linked device) on a
    Coexistence number: Meta echoes it to the webhook (`smb_message_echoes`)."""


class MessageType(StrEnum):
    """WhatsApp's message types, spelled as on the wire. `unknown` keeps a type this
    code does not know yet; the original name travels beside it."""

    TEXT = "text"
    INTERACTIVE = "interactive"
    BUTTON = "button"
    REACTION = "reaction"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACTS = "contacts"
    SYSTEM = "system"
    ORDER = "order"
    REQUEST_WELCOME = "request_welcome"
    """The customer opened the chat for the first time: there is nothing to read, only
    someone to greet."""
    UNSUPPORTED = "unsupported"
    UNKNOWN = "unknown"


class MessageStatus(StrEnum):
    """A message log entry's status. Inbound messages are `RECEIVED`; an outbound is
    `PENDING` once claimed, then what the sender and WhatsApp report."""

    RECEIVED = "RECEIVED"
    PENDING = "PENDING"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    READ = "READ"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"
    """The send may or may not have reached WhatsApp: for an operator to check."""
    SUPPRESSED = "SUPPRESSED"
    """Claimed, then stopped by the gate before its send started: never sent."""


WhatsAppStatus = Literal[
    MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.FAILED
]
"""The statuses WhatsApp reports for a message we sent."""
