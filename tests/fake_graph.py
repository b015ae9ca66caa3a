"""A scripted fake of WhatsApp's Graph API, served by a real uvicorn on loopback.

    with fake_graph() as graph:
        graph.script(meta_error(131056), success("wamid.X"))
        channel = GraphChannel("token", api_base=graph.base_url)
        ...
        assert len(graph.requests) == 2

Replies are consumed in order, one per request to `POST /{version}/{phone_number_id}/
messages`. Once the script runs out, every request gets a 200 with a fresh `wamid.` id,
so end-to-end tests can use the fake as a WhatsApp that works.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from tests.e2e.live_server import serving


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None
    """The JSON answered; None: Meta's success body with a fresh message id."""
    delay_s: float = 0
    """Answer only after this long, or not at all if the client gives up first."""
    drop: bool = False
    """Send the status line and headers, then close the connection mid-body."""


def success(wa_message_id: str) -> Reply:
    return Reply(body=_accepted(wa_message_id))


def meta_error(
    code: int, status: int = 400, message: str | None = None, details: str = "fake details"
) -> Reply:
    """An error as Meta spells it: `{"error": {"code", "message", "error_data"}}`."""
    error = {
        "message": message if message is not None else f"(#{code}) fake error {code}",
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": "AfakeTrace",
    }
    return Reply(status=status, body={"error": error})


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    """Lower-cased names."""
    json: Any


class FakeGraph:
    def __init__(self) -> None:
        self.base_url = ""
        self._lock = threading.Lock()
        self._script: deque[Reply] = deque()
        self._requests: list[ReceivedRequest] = []
        self.app = FastAPI()
        self.app.post("/{version}/{phone_number_id}/messages")(self._messages)

    def script(self, *replies: Reply) -> None:
        """Queue `replies` for the next requests, after any still queued."""
        with self._lock:
            self._script.extend(replies)

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    async def _messages(self, request: Request) -> Response:
        received = ReceivedRequest(request.url.path, dict(request.headers), await request.json())
        with self._lock:
            self._requests.append(received)
            reply = self._script.popleft() if self._script else Reply()
        if reply.delay_s:
            await _sleep_while_connected(request, reply.delay_s)
        if reply.drop:
            return StreamingResponse(_cut_short(), media_type="application/json")
        body = reply.body if reply.body is not None else _accepted(f"wamid.fake-{uuid.uuid4()}")
        return JSONResponse(body, status_code=reply.status)


@contextmanager
def fake_graph() -> Iterator[FakeGraph]:
    graph = FakeGraph()
    with serving(graph.app) as base_url:
        graph.base_url = base_url
        yield graph


def _accepted(wa_message_id: str) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "messages": [{"id": wa_message_id}]}


async def _sleep_while_connected(request: Request, delay_s: float) -> None:
    """Wait, but stop once the client has gone: the server then shuts down at once."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + delay_s
    while loop.time() < deadline and not await request.is_disconnected():
        await asyncio.sleep(0.02)


class ConnectionCut(Exception):
    """Raised mid-body so that uvicorn closes the connection (and logs it)."""


async def _cut_short() -> AsyncIterator[bytes]:
    yield b'{"messages": ['
    raise ConnectionCut("the fake Graph API dropped the connection on purpose")
