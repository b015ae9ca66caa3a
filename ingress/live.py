"""`GET /api/stream`: snapshot changes pushed to operators as server-sent events.

Every snapshot document carries `updated_at`, stamped by the projector that wrote it.
The stream sends each changed document (the session list's sessions, the system
control, and with `session_id` that session's messages) in `updated_at` order; an
event's id is its position in that order. A client that reconnects with
`Last-Event-ID` gets every change after that position: nothing is lost across a
reconnect (a document changed twice meanwhile arrives once, in its latest state).

The store's `listen` wakes the stream when a projector commits (in-process on the
embedded back end, Firestore listeners on gcp); a quiet stream sends a comment every
15 s so proxies keep it open.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, NamedTuple

import anyio
from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse

from contracts.ports.snapshots import Document, SnapshotStore, Where
from contracts.vocabulary import EntityId
from ingress.auth import CurrentOperator, Services

router = APIRouter(prefix="/api", tags=["live"])

KEEP_ALIVE_S = 15.0
BATCH = 200
EVENT_OF = {"sessions": "session", "system_controls": "system", "messages": "message"}


class Mark(NamedTuple):
    """A position in the stream of changes: documents sort by these three."""

    updated_at: str
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


def changes_after(
    snapshots: SnapshotStore, mark: Mark, session_id: str | None
) -> list[tuple[Mark, Document]]:
    """Changed documents after `mark`, in order, at most a batch per collection."""
    found: list[tuple[Mark, Document]] = []
    for collection in EVENT_OF:
        where = [Where("updated_at", ">=", mark.updated_at)]
        if collection == "messages":
            if session_id is None:
                continue
            where.append(Where("session_id", "==", session_id))
        page = snapshots.query(collection, where, order_by="updated_at", limit=BATCH)
        for document in page.documents:
            position = Mark(document["updated_at"], collection, document["id"])
            if position > mark:
                found.append((position, document))
    return sorted(found, key=lambda change: change[0])


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
    services: Services,
    session_id: Annotated[
        EntityId | None, Query(description="also this session's messages")
    ] = None,
    last_event_id: Annotated[str | None, Header(max_length=300)] = None,
) -> StreamingResponse:
    """Snapshot changes as they happen: `session` (the session list), `system` (the kill
    switch) and, with `session_id`, `message` (that session's log). Reconnect with
    `Last-Event-ID` to resume without losing a change."""
    snapshots = services.snapshots
    if snapshots is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no snapshot store configured")
    try:
        start = Mark.decode(last_event_id) if last_event_id else _now()
    except ValueError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    return StreamingResponse(
        _changes(request, snapshots, start, session_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _now() -> Mark:
    return Mark(datetime.now(UTC).isoformat(), "", "")


async def _changes(
    request: Request, snapshots: SnapshotStore, mark: Mark, session_id: str | None
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()

    def wake(_: str) -> None:
        loop.call_soon_threadsafe(changed.set)

    stop_listening = snapshots.listen(wake)
    try:
        yield ": connected\n\n"
        while not await request.is_disconnected():
            changed.clear()
            batch = await anyio.to_thread.run_sync(changes_after, snapshots, mark, session_id)
            for position, document in batch:
                yield _event(position, document)
                mark = position
            if len(batch) >= BATCH:
                continue  # more are waiting
            try:
                await asyncio.wait_for(changed.wait(), KEEP_ALIVE_S)
            except TimeoutError:
                yield ": keep-alive\n\n"
    finally:
        stop_listening()
