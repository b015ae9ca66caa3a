"""The console's pages and the fragments their live refreshes fetch, read through
`ingress.reading` (the read API's own functions), never from the event store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse

from contracts.api import Page, SessionSummary
from contracts.ports.snapshots import InvalidCursor, SnapshotStore
from contracts.snapshots.messages import MessageLogEntry
from contracts.vocabulary import EntityId, SessionMode, SessionStatus
from ingress import reading
from ingress.auth import Services
from ingress.console.rendering import render
from ingress.console.sessions import SignedIn, SignedInOperator
from ingress.errors import NotFound
from ingress.services import IngressServices

router = APIRouter()
T = TypeVar("T")

PAGE_SIZE = 50
LOG_SIZE = 200
WAITING_COUNTED = 100
"""Sessions counted for the header; more show as `100+`."""
Cursor = Annotated[str | None, Query(max_length=2000)]


def read_models(services: IngressServices, call: Callable[[SnapshotStore], T]) -> T:
    if services.snapshots is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no snapshot store configured")
    try:
        return call(services.snapshots)
    except InvalidCursor:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "that page link is not valid") from None
    except NotFound as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None


def _waiting(snapshots: SnapshotStore) -> str:
    """Open sessions ready for a human that no human holds yet."""
    page = reading.list_sessions(
        snapshots, lambda _: None, {"ready_for_human": True}, WAITING_COUNTED, None
    )
    count = sum(
        1
        for s in page.items
        if s.mode is not SessionMode.HUMAN_TAKEOVER
        and s.state not in (SessionStatus.CLOSED, SessionStatus.EXPIRED)
    )
    return f"{count}+" if page.next_cursor else str(count)


def page_chrome(services: IngressServices, who: SignedIn) -> dict[str, Any]:
    """What every page shows around its content: who, the waiting count, the kill switch."""
    return {
        "who": who,
        "waiting": read_models(services, _waiting),
        "system": read_models(services, reading.system_control),
    }


def _inbox_page(services: IngressServices, cursor: str | None) -> Page[SessionSummary]:
    names = reading.names_in(services.vault)
    return read_models(services, lambda s: reading.list_sessions(s, names, {}, PAGE_SIZE, cursor))


@router.get("", response_class=HTMLResponse)
def inbox(
    request: Request, who: SignedInOperator, services: Services, cursor: Cursor = None
) -> HTMLResponse:
    page = _inbox_page(services, cursor)
    context = {**page_chrome(services, who), "page": page, "cursor": cursor, "page_title": "Inbox"}
    return render(request, "inbox.html", context)


@router.get("/inbox/rows", response_class=HTMLResponse)
def inbox_rows(
    request: Request, who: SignedInOperator, services: Services, cursor: Cursor = None
) -> HTMLResponse:
    return render(request, "_rows.html", {"page": _inbox_page(services, cursor)})


@router.get("/status", response_class=HTMLResponse)
def status_bar(request: Request, who: SignedInOperator, services: Services) -> HTMLResponse:
    return render(request, "_status.html", {**page_chrome(services, who), "fragment": True})


@dataclass(frozen=True)
class Note:
    text: str
    by: str


@dataclass(frozen=True)
class Entry:
    """One line of the conversation: a message, or an operator's note."""

    at: datetime
    message: MessageLogEntry | None = None
    note: Note | None = None


def _timeline(services: IngressServices, session_id: str) -> tuple[list[Entry], bool]:
    def read(snapshots: SnapshotStore) -> tuple[list[Entry], bool]:
        messages = reading.session_messages(snapshots, session_id, LOG_SIZE, None)
        audit = reading.session_audit(snapshots, session_id, LOG_SIZE, None)
        entries = [Entry(m.created_at, message=m) for m in messages.items]
        entries += [
            Entry(
                a.occurred_at,
                note=Note(str(a.payload.get("text", "")), str(a.payload.get("by", ""))),
            )
            for a in audit.items
            if a.type == "NoteAdded"
        ]
        entries.sort(key=lambda entry: entry.at)
        return entries, messages.next_cursor is not None

    return read_models(services, read)


def _session_context(services: IngressServices, session_id: str) -> dict[str, Any]:
    names = reading.names_in(services.vault)
    detail = read_models(services, lambda s: reading.session_detail(s, names, session_id))
    try:
        lead = read_models(
            services, lambda s: reading.lead_detail(s, names, detail.session.lead_id)
        )
    except HTTPException:
        lead = None
    return {"detail": detail, "lead": lead}


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
def conversation(
    request: Request, session_id: EntityId, who: SignedInOperator, services: Services
) -> HTMLResponse:
    context = _session_context(services, session_id)
    timeline, more = _timeline(services, session_id)
    title = context["detail"].session.display_name or "Conversation"
    return render(request, "conversation.html", {
        **page_chrome(services, who), **context, "timeline": timeline, "more": more,
        "live_session_id": session_id, "page_title": title,
    })  # fmt: skip


@router.get("/sessions/{session_id}/log", response_class=HTMLResponse)
def conversation_log(
    request: Request, session_id: EntityId, who: SignedInOperator, services: Services
) -> HTMLResponse:
    timeline, more = _timeline(services, session_id)
    return render(request, "_log.html", {"timeline": timeline, "more": more})


@router.get("/sessions/{session_id}/panel", response_class=HTMLResponse)
def conversation_panel(
    request: Request, session_id: EntityId, who: SignedInOperator, services: Services
) -> HTMLResponse:
    return render(request, "_panel.html", {**_session_context(services, session_id), "who": who})
