"""The console's pages and the fragments their live refreshes fetch, read through
`ingress.reading` (the read API's own functions), never from the event store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse

from contracts.api import AssigneeFilter, Page, SessionSort, SessionSummary
from contracts.ports.snapshots import InvalidCursor, SnapshotStore
from contracts.snapshots.messages import MessageLogEntry
from contracts.vocabulary import EntityId, LeadStatus, SessionMode
from ingress import reading
from ingress.auth import Services
from ingress.console.inbox_view import InboxView, View
from ingress.console.rendering import render
from ingress.console.sessions import SignedIn, SignedInOperator
from ingress.errors import NotFound
from ingress.services import IngressServices

router = APIRouter()
T = TypeVar("T")

PAGE_SIZE = 50
LOG_SIZE = 200
CHOICES = {
    "sort": [(SessionSort.WAITING, "longest waiting first"), (SessionSort.LATEST, "latest"),
             (SessionSort.PRIORITY, "priority (ready for human first)")],
    "assignee": [(AssigneeFilter.ALL, "everyone's"), (AssigneeFilter.MINE, "mine"),
                 (AssigneeFilter.UNASSIGNED, "unassigned")],
    "mode": list(SessionMode),
    "lead_status": list(LeadStatus),
}  # fmt: skip
"""What the inbox's form offers (and `inbox_view` accepts)."""


def read_models(services: IngressServices, call: Callable[[SnapshotStore], T]) -> T:
    if services.snapshots is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no snapshot store configured")
    try:
        return call(services.snapshots)
    except InvalidCursor:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "that page link is not valid") from None
    except NotFound as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None


def page_chrome(services: IngressServices, who: SignedIn) -> dict[str, Any]:
    """What every page shows around its content: who, the inbox's counts, the kill
    switch."""
    name = who.operator.name
    return {
        "who": who,
        "counts": read_models(services, lambda s: reading.inbox_counts(s, name)),
        "system": read_models(services, reading.system_control),
    }


def _inbox_page(services: IngressServices, who: SignedIn, view: InboxView) -> Page[SessionSummary]:
    names = reading.names_in(services.vault)

    def read(snapshots: SnapshotStore) -> Page[SessionSummary]:
        contacts = (
            None if view.q is None else reading.contacts_matching(services.vault, snapshots, view.q)
        )
        return reading.list_sessions(snapshots, names, view.filters, PAGE_SIZE, view.cursor,
                                     sort=view.sort, assignee=view.assignee,
                                     operator=who.operator.name, contacts=contacts)  # fmt: skip

    return read_models(services, read)


@router.get("", response_class=HTMLResponse)
def inbox(request: Request, who: SignedInOperator, services: Services, view: View) -> HTMLResponse:
    page = _inbox_page(services, who, view)
    context = {**page_chrome(services, who), "page": page, "view": view, "page_title": "Inbox",
               "choices": CHOICES}  # fmt: skip
    answer = render(request, "inbox.html", context)
    if request.headers.get("HX-Request"):  # the filter form: its view, as a clean link
        answer.headers["HX-Push-Url"] = "/console" + (f"?{view.query()}" if view.query() else "")
    return answer


@router.get("/inbox/rows", response_class=HTMLResponse)
def inbox_rows(
    request: Request, who: SignedInOperator, services: Services, view: View
) -> HTMLResponse:
    return render(request, "_rows.html", {"page": _inbox_page(services, who, view), "view": view})


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
