"""`GET /api/stream`: snapshot changes pushed to operators as server-sent events.

The snapshot store stamps every document it writes with its commit, in commit order
(`SnapshotStore.changes`; the stamp is no field of the document, whose `updated_at` is
event time). The stream sends each changed document (the session list's sessions, the
system control, and with `session_id` that session's messages) in stamp order; an
event's id is its position in that order. A client that reconnects with
`Last-Event-ID` gets every change after that position: nothing is lost across a
reconnect (a document changed twice meanwhile arrives once, in its latest state).

The store's `listen` wakes the stream when a projector commits (in-process on the
embedded back end, Firestore listeners on gcp); a quiet stream sends a comment every
15 s so proxies keep it open. Every 2 s it asks whether its token still names an active
operator: revoking the operator ends the stream with a `revoked` event.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, NamedTuple

import anyio
from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse

from contracts.ports.snapshots import Document, SnapshotStore, Where
from contracts.vocabulary import EntityId
from ingress.auth import CurrentOperator, Services, StillAuthorized
from ingress.services import IngressServices
from ingress.strict_input import StrictJsonRoute

router = APIRouter(prefix="/api", tags=["live"], route_class=StrictJsonRoute)

KEEP_ALIVE_S = 15.0
REVALIDATE_S = 2.0
"""How often an open stream asks whether its token still names an active operator:
revoking an operator ends their streams within this."""
REVOKED = "event: revoked\ndata: {}\n\n"
BATCH = 200
SETTLE_S = 1.0
"""A change is sent once it is this old: the store stamps a change in its commit,
just before the commit becomes visible, and on gcp clocks differ a little. A stream
that paged past a stamp whose commit was still landing would step over it for good."""
EVENT_OF = {"sessions": "session", "system_controls": "system", "messages": "message"}


class Mark(NamedTuple):
    """A position in the stream of changes: documents sort by these three."""

    changed_at: str
    collection: str
    doc_id: str

    def encode(self) -> str:
        return "|".join(self)

    @classmethod
    def decode(cls, text: str) -> Mark:
        parts = text.split("|")
        if len(parts) != 3:
            raise ValueError(f"not an event id of this stream: {text!r}")
        datetime.fromisoformat(parts[0])  # raises for what is not a time
        return cls(*parts)


@dataclass(frozen=True)
class Changes:
    found: list[tuple[Mark, Document]]
    """In order."""
    more: bool
    """A collection filled its batch: read again at once."""
    held: bool
    """Some changes are too fresh to send yet (see `SETTLE_S`)."""
    cursors: dict[str, str]
    """Where to go on reading a collection that filled its batch (its changes may share
    one commit's stamp, more of them than a batch holds)."""


def changes_after(
    snapshots: SnapshotStore,
    mark: Mark,
    session_id: str | None,
    settled: str,
    cursors: dict[str, str],
) -> Changes:
    """Changed documents after `mark` and stamped no later than `settled`. A collection
    that filled its batch is read no further than its batch's last change, and the
    others no further either, so that nothing is stepped over."""
    found: list[tuple[Mark, Document]] = []
    ends: dict[str, tuple[Mark, str]] = {}
    held = False
    for collection in EVENT_OF:
        where: list[Where] = []
        if collection == "messages":
            if session_id is None:
                continue
            where.append(Where("session_id", "==", session_id))
        page = snapshots.changes(
            collection, mark.changed_at, where, limit=BATCH, cursor=cursors.get(collection)
        )
        if page.cursor is not None and page.changes:
            last = page.changes[-1]
            ends[collection] = (Mark(last.at, collection, last.document["id"]), page.cursor)
        for change in page.changes:
            document = change.document
            position = Mark(change.at, collection, document["id"])
            partial = collection == "sessions" and document.get("state") is None
            if position <= mark or partial:  # partial: a lead's status merged in early
                continue
            if position.changed_at > settled:
                held = True
            else:
                found.append((position, document))
    found.sort(key=lambda change: change[0])
    if not ends:
        return Changes(found, more=False, held=held, cursors={})
    end, cursor = min(ends.values())
    kept = [change for change in found if change[0] <= end]
    if held:  # a cursor would step over what is held back: read from the mark again
        return Changes(kept, more=False, held=True, cursors={})
    return Changes(kept, more=True, held=False, cursors={end.collection: cursor})


def _event(mark: Mark, document: Document) -> str:
    data = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return f"id: {mark.encode()}\nevent: {EVENT_OF[mark.collection]}\ndata: {data}\n\n"


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "server-sent events"},
        400: {"description": "a Last-Event-ID this stream did not send"},
        401: {"description": "no valid operator token"},
    },
)
async def stream(
    request: Request,
    operator: CurrentOperator,
    authorized: StillAuthorized,
    services: Services,
    session_id: Annotated[
        EntityId | None, Query(description="also this session's messages")
    ] = None,
    last_event_id: Annotated[str | None, Header(max_length=300)] = None,
) -> StreamingResponse:
    """Snapshot changes as they happen: `session` (the session list), `system` (the kill
    switch) and, with `session_id`, `message` (that session's log). Reconnect with
    `Last-Event-ID` to resume without losing a change."""
    return changes_response(request, services, session_id, last_event_id, authorized)


def changes_response(
    request: Request,
    services: IngressServices,
    session_id: str | None,
    last_event_id: str | None,
    authorized: Callable[[], bool],
) -> StreamingResponse:
    """The stream of snapshot changes from `last_event_id` (else from now), as long as
    `authorized` says yes: the API's and the console's, which differ in who asks."""
    snapshots = services.snapshots
    if snapshots is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no snapshot store configured")
    try:
        start = Mark.decode(last_event_id) if last_event_id else now_mark()
    except ValueError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    return StreamingResponse(
        change_events(request, snapshots, start, session_id, authorized),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def now_mark() -> Mark:
    """The position of a stream opened now: only changes from here on."""
    return Mark(datetime.now(UTC).isoformat(timespec="microseconds"), "", "")


async def change_events(
    request: Request,
    snapshots: SnapshotStore,
    mark: Mark,
    session_id: str | None,
    authorized: Callable[[], bool],
) -> AsyncIterator[str]:
    """The stream's text: changes after `mark` as they commit, a keep-alive comment
    when quiet, and `revoked` (then the end) once `authorized` says no. The operator
    console's stream (`ingress/console/live.py`) serves it too, authorized by cookie."""
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()

    def wake(_: str) -> None:
        loop.call_soon_threadsafe(changed.set)

    stop_listening = snapshots.listen(wake)
    cursors: dict[str, str] = {}
    try:
        yield ": connected\n\n"
        while not await request.is_disconnected():
            if not await anyio.to_thread.run_sync(authorized):
                yield REVOKED
                return
            changed.clear()
            settled = (datetime.now(UTC) - timedelta(seconds=SETTLE_S)).isoformat(
                timespec="microseconds"
            )
            changes = await anyio.to_thread.run_sync(
                changes_after, snapshots, mark, session_id, settled, cursors
            )
            for position, document in changes.found:
                yield _event(position, document)
                mark = position
            cursors = changes.cursors
            if changes.more:
                continue
            if changes.held:
                await asyncio.sleep(SETTLE_S)
                continue
            woken = await _wait_for_change(changed, authorized)
            if woken is None:
                yield REVOKED
                return
            if not woken:
                yield ": keep-alive\n\n"
                continue
            await asyncio.sleep(SETTLE_S)  # what woke us is sent once settled
    finally:
        stop_listening()


async def _wait_for_change(changed: asyncio.Event, authorized: Callable[[], bool]) -> bool | None:
    """True once a change is announced, False after `KEEP_ALIVE_S` of quiet, None as
    soon as the token is found revoked (asked every `REVALIDATE_S`)."""
    waited = 0.0
    while waited < KEEP_ALIVE_S:
        try:
            await asyncio.wait_for(changed.wait(), min(REVALIDATE_S, KEEP_ALIVE_S - waited))
            return True
        except TimeoutError:
            waited += REVALIDATE_S
        if not await anyio.to_thread.run_sync(authorized):
            return None
    return False
