"""`GET /console/stream`: the API's live stream (`ingress/live.py`), authorized by the
console's session cookie, since `EventSource` cannot send a header. htmx's SSE extension
opens it, reconnects with backoff, and turns each event into a refresh of the panel it
concerns. Like the API's stream it asks again every `REVALIDATE_S` whether the session
still holds (signed out, idle too long, operator revoked) and otherwise ends with a
`revoked` event. Watching is not activity: the stream does not keep a session alive.

The browser's own reconnect sends `Last-Event-ID` and resumes after it, losing nothing;
when the extension opens a fresh connection instead (after backing off), the page
re-fetches every live panel as it opens (`console.js`), which comes to the same."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from contracts.vocabulary import EntityId
from ingress.auth import Services
from ingress.console.sessions import COOKIE, SignedInOperator
from ingress.live import changes_response

router = APIRouter()


@router.get("/stream")
async def stream(
    request: Request,
    who: SignedInOperator,
    services: Services,
    session_id: Annotated[EntityId | None, Query()] = None,
    last_event_id: Annotated[str | None, Header(max_length=300)] = None,
) -> StreamingResponse:
    cookie = request.cookies.get(COOKIE, "")

    def still_signed_in() -> bool:
        found = services.operators.session(
            cookie, services.clock(), services.console_idle, touch=False
        )
        return found is not None

    return changes_response(request, services, session_id, last_event_id, still_signed_in)
