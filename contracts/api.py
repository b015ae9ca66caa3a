"""The read API's bodies: what `GET /api/...` answers, built from the snapshots."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel

from contracts.envelope import Actor
from contracts.frozen import Frozen
from contracts.snapshots.lead import Lead
from contracts.snapshots.session import SessionControl, SessionState
from contracts.vocabulary import LeadStatus, OperatorId, Priority, SessionMode

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None
    """Pass as `cursor` for the next page; null on the last one."""


class SessionSummary(SessionState):
    """A session as the session list shows it: its state, who may speak, and its
    lead's status (merged in from the lead's stream)."""

    mode: SessionMode = SessionMode.LLM_ACTIVE
    human_assignee: OperatorId | None = None
    control_version: int = 0
    lead_status: LeadStatus | None = None
    ready_for_human: bool = False
    priority: Priority | None = None
    unknown_outbounds: int = 0
    """Sends that may or may not have reached the customer: for an operator to check."""
    last_draft_failure: str | None = None
    """Why the bot's last draft failed, until a draft succeeds."""
    updated_at: AwareDatetime
    closed: bool = False
    """CLOSED or EXPIRED."""
    display_name: str | None = None
    """The customer's WhatsApp profile name (else username), opened from the vault for
    this answer; never stored in a snapshot."""


class SessionSort(StrEnum):
    """The order of `GET /api/sessions`."""

    LATEST = "latest"
    """Most recently changed first (`updated_at`)."""
    WAITING = "waiting"
    """The longest waiting for a human first (`waiting_since`), then the sessions nobody
    waits in, the most recently active first (`last_message_at`)."""
    PRIORITY = "priority"
    """The sessions ready for a human first, then the others; each part in the order of
    `waiting`."""


class InboxCounts(Frozen):
    """What the inbox's header shows: open sessions only."""

    ready_for_human: int
    """Handed off to a human (lead READY_FOR_HUMAN) and not yet taken over."""
    mine: int
    """Held by the operator asking."""
    waiting_unassigned: int
    """Held by nobody, with a customer waiting for a human's answer (`waiting_since`)."""


class AssigneeFilter(StrEnum):
    MINE = "mine"
    """Held by the operator asking (`human_assignee` is them)."""
    UNASSIGNED = "unassigned"
    """Held by nobody (`human_assignee` is null: the bot's, or paused)."""
    ALL = "all"


class LeadView(Lead):
    """A lead as operators see it."""

    display_name: str | None = None
    """The customer's WhatsApp profile name (else username), opened from the vault for
    this answer; never stored in a snapshot."""


class SessionDetail(Frozen):
    session: SessionSummary
    control: SessionControl


class AuditEntry(Frozen):
    """One recorded event, as it was recorded."""

    version: int
    type: str
    actor: Actor
    occurred_at: AwareDatetime
    correlation_id: str
    payload: dict[str, Any]


class LeadDetail(Frozen):
    lead: LeadView
    audit: list[AuditEntry]
    """Every event of the lead, oldest first: statuses, applied and rejected field values
    with their evidence, handoffs, reveals."""


class DeadLetterView(Frozen):
    source: str
    """`webhook` (a signed body that could not be read, kept sealed) or the subscription
    whose worker gave up on a message."""
    id: str
    reason: str | None
    at: AwareDatetime
    attempts: int | None = None
    event_type: str | None = None
    correlation_id: str | None = None


# --- metrics -------------------------------------------------------------------------


class Distribution(BaseModel):
    count: int = 0
    p50_ms: int | None = None
    p90_ms: int | None = None
    mean_ms: int | None = None


class Metrics(BaseModel):
    sessions: int = 0
    """Sessions whose first message falls in the period."""
    inbound_messages: int = 0
    bot_replies: int = 0
    human_replies: int = 0
    first_response_bot: Distribution = Distribution()
    first_response_human: Distribution = Distribution()
    reply_latency: Distribution = Distribution()
    handoffs: int = 0
    handoff_eligible: int = 0
    handoff_rate: float | None = None
    takeovers: int = 0
    intents: dict[str, int] = {}
    llm_failures: int = 0
    send_failures: dict[str, int] = {}
    floods: dict[str, int] = {}
    cooldowns: dict[str, int] = {}


class DayMetrics(Metrics):
    day: str


class MetricsReport(BaseModel):
    start: str | None
    end: str | None
    overall: Metrics
    days: list[DayMetrics]
