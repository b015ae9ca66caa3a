"""The read API: operators' views over the snapshots, paginated with `limit` and a
cursor. Every route needs an operator token."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, status

from contracts.api import (
    AssigneeFilter,
    AuditEntry,
    DeadLetterView,
    InboxCounts,
    LeadDetail,
    LeadView,
    MetricsReport,
    Page,
    SessionDetail,
    SessionSort,
    SessionSummary,
)
from contracts.ports.snapshots import InvalidCursor, SnapshotStore
from contracts.snapshots.messages import MessageLogEntry
from contracts.snapshots.system import SystemControl
from contracts.vocabulary import EntityId, LeadStatus, SessionMode, SessionStatus
from ingress import reading
from ingress.auth import CurrentOperator, Services
from ingress.errors import NotFound
from ingress.services import IngressServices
from ingress.strict_input import StrictJsonRoute

T = TypeVar("T")

router = APIRouter(prefix="/api", tags=["read"], route_class=StrictJsonRoute)

Limit = Annotated[int, Query(ge=1, le=200, description="items per page")]
Cursor = Annotated[
    str | None, Query(max_length=2000, description="`next_cursor` of the page before")
]
SessionId = Annotated[EntityId, Path()]
_AUTH: dict[int | str, dict[str, str]] = {
    401: {"description": "no valid operator token"},
    503: {"description": "no snapshot store configured"},
}
_NOT_FOUND: dict[int | str, dict[str, str]] = {404: {"description": "no such thing"}}
_BAD_CURSOR: dict[int | str, dict[str, str]] = {
    400: {"description": "the cursor is not one this API gave"}
}


def _answer(services: IngressServices, call: Callable[[SnapshotStore], T]) -> T:
    """Run `call` on the snapshots, mapping its errors to statuses."""
    if services.snapshots is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no snapshot store configured")
    try:
        return call(services.snapshots)
    except InvalidCursor as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    except NotFound as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None


def _names(services: IngressServices) -> reading.Names:
    """Display names for an authenticated operator's answer (opened from the vault)."""
    return reading.names_in(services.vault)


@router.get("/sessions", responses={**_AUTH, **_BAD_CURSOR})
def get_sessions(
    operator: CurrentOperator,
    services: Services,
    mode: SessionMode | None = None,
    state: SessionStatus | None = None,
    lead_status: LeadStatus | None = None,
    ready_for_human: bool | None = None,
    closed: Annotated[bool | None, Query(description="CLOSED or EXPIRED (true), or open")] = None,
    assignee: Annotated[
        AssigneeFilter, Query(description="held by you, by nobody, or anyone")
    ] = AssigneeFilter.ALL,
    sort: Annotated[SessionSort, Query(description="the order (docs/operations.md)")] = (
        SessionSort.LATEST
    ),
    q: Annotated[
        str | None, Query(min_length=1, max_length=100, description="words of the name")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[SessionSummary]:
    """Sessions, most recently changed first unless `sort` says otherwise (`waiting`:
    the longest waiting for a human first; `priority`: ready for a human first); filter
    by control mode, state, open or closed, lead status, waiting for a human, or who
    holds it; `q` keeps the customers whose display name, or the values collected for
    their lead, have those words (or words starting with them), in one page. A cursor
    belongs to its query: same filters and sort."""
    filters = {"mode": mode, "state": state, "lead_status": lead_status,
               "ready_for_human": ready_for_human, "closed": closed}  # fmt: skip

    def answer(snapshots: SnapshotStore) -> Page[SessionSummary]:
        contacts = None if q is None else reading.contacts_matching(services.vault, snapshots, q)
        return reading.list_sessions(snapshots, _names(services), filters, limit, cursor,
                                     sort=sort, assignee=assignee, operator=operator.name,
                                     contacts=contacts)  # fmt: skip

    return _answer(services, answer)


@router.get("/inbox", responses=_AUTH)
def get_inbox(operator: CurrentOperator, services: Services) -> InboxCounts:
    """The inbox's header: open sessions handed off to a human, held by you, and held
    by nobody with a customer waiting for a human."""
    return _answer(services, lambda s: reading.inbox_counts(s, operator.name))


@router.get("/sessions/{session_id}", responses={**_AUTH, **_NOT_FOUND})
def get_session(
    session_id: SessionId, operator: CurrentOperator, services: Services
) -> SessionDetail:
    """The session and its control (mode, assignee, and the version for
    `expected_control_version`)."""
    return _answer(services, lambda s: reading.session_detail(s, _names(services), session_id))


@router.get("/sessions/{session_id}/messages", responses={**_AUTH, **_BAD_CURSOR})
def get_session_messages(
    session_id: SessionId,
    operator: CurrentOperator,
    services: Services,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[MessageLogEntry]:
    """The session's message log in conversation order: each inbound message, and each
    outbound with its delivery status and history."""
    return _answer(services, lambda s: reading.session_messages(s, session_id, limit, cursor))


@router.get("/sessions/{session_id}/audit", responses={**_AUTH, **_BAD_CURSOR})
def get_session_audit(
    session_id: SessionId,
    operator: CurrentOperator,
    services: Services,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AuditEntry]:
    """Every decision in the session: drafts, suppressions and why, control changes,
    floods, notes, the close."""
    return _answer(services, lambda s: reading.session_audit(s, session_id, limit, cursor))


@router.get("/leads", responses={**_AUTH, **_BAD_CURSOR})
def get_leads(
    operator: CurrentOperator,
    services: Services,
    status: LeadStatus | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[LeadView]:
    """Leads, most recently active first; filter by status."""
    names = _names(services)
    return _answer(
        services, lambda s: reading.list_leads(s, names, {"status": status}, limit, cursor)
    )


@router.get("/leads/{lead_id}", responses={**_AUTH, **_NOT_FOUND})
def get_lead(
    lead_id: Annotated[EntityId, Path()], operator: CurrentOperator, services: Services
) -> LeadDetail:
    """The lead and its field audit: applied and rejected values, with their source,
    confidence and evidence."""
    return _answer(services, lambda s: reading.lead_detail(s, _names(services), lead_id))


@router.get("/system", responses=_AUTH)
def get_system(operator: CurrentOperator, services: Services) -> SystemControl:
    """The kill switch: whether the bot may answer anywhere."""
    return _answer(services, reading.system_control)


@router.get("/metrics", responses=_AUTH)
def get_metrics(
    operator: CurrentOperator,
    services: Services,
    start: Annotated[date | None, Query(alias="from", description="first day (UTC)")] = None,
    end: Annotated[date | None, Query(alias="to", description="last day (UTC)")] = None,
) -> MetricsReport:
    """The business metrics per day and over the period (definitions: docs/operations.md)."""
    return _answer(services, lambda s: reading.metrics(s, start, end))


@router.get("/dead-letters", responses=_AUTH)
def get_dead_letters(
    operator: CurrentOperator, services: Services, limit: Limit = 50
) -> list[DeadLetterView]:
    """Signed webhook bodies that could not be read, and messages a worker gave up on,
    newest first."""
    return _answer(services, lambda s: reading.dead_letters(services, s, limit))
