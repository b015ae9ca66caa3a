"""A scripted OpenAI-compatible chat-completions server on loopback, for tests.

    with fake_llm() as server:
        responder = OpenAIResponder(server.base_url, "sk-test", "gpt-test")
        server.script(error(429, "slow down", retry_after="0"), answer({"reply": "Olá!"}))
        responder.draft(conversation)
        assert server.requests[0].headers["authorization"] == "Bearer sk-test"

Scripted replies are served in order, one per request. With nothing scripted the server
answers a valid draft that echoes the last pending message ("Recebi: <text>"), so an
end-to-end test can run a conversation without scripting every call.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import FastAPI, Request, Response

from tests.e2e.live_server import serving

DEFAULT_USAGE = (42, 7)
"""`prompt_tokens`, `completion_tokens` of every answer unless a test says otherwise."""


@dataclass(frozen=True)
class Scripted:
    """One HTTP response, served after `delay_s`."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class Received:
    headers: Mapping[str, str]
    """Header names in lower case."""
    json: Any
    """The request body, parsed; None if it was not JSON."""

    def message(self, role: str) -> str:
        """The content of the (first) chat message with `role`."""
        return next(str(m["content"]) for m in self.json["messages"] if m["role"] == role)


def completion(content: str | None, usage: tuple[int, int] | None = DEFAULT_USAGE) -> Scripted:
    """A 200 chat completion whose message content is `content`, as given."""
    document: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": "fake",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }
    if usage is not None:
        document["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1]}
    return Scripted(body=json.dumps(document).encode())


def answer(draft: Mapping[str, Any], usage: tuple[int, int] | None = DEFAULT_USAGE) -> Scripted:
    """A completion whose content is `draft` as JSON; missing keys get empty values."""
    full = {"intent": None, "fields": [], "handoff": None} | dict(draft)
    return completion(json.dumps(full, ensure_ascii=False), usage)


def raw(body: str, status: int = 200) -> Scripted:
    """A response whose body is `body`, whatever it is."""
    return Scripted(status=status, body=body.encode())


def error(status: int, message: str, retry_after: str | None = None) -> Scripted:
    """An error in OpenAI's shape: `{"error": {"message": ...}}`."""
    body = json.dumps({"error": {"message": message, "type": "fake_error", "code": None}})
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return Scripted(status=status, body=body.encode(), headers=headers)


def slow(delay_s: float, then: Scripted | None = None) -> Scripted:
    """`then` (by default a valid draft) served only after `delay_s`."""
    return replace(then or answer({"reply": "Resposta atrasada."}), delay_s=delay_s)


def echo(request: Any) -> Scripted:
    """The default answer: a valid draft that repeats the last pending message."""
    try:
        pending = json.loads(request["messages"][-1]["content"])["pending"]
        text = pending[-1]["text"] or ""
    except (KeyError, IndexError, TypeError, ValueError):
        text = ""
    reply = f"Recebi: {text.strip()}"[:4000] if text.strip() else "Recebi sua mensagem."
    return answer({"reply": reply})


class FakeLLM:
    """The handle a test holds: where the server is, what it will answer, what it saw."""

    def __init__(self) -> None:
        self.base_url = ""
        """`http://127.0.0.1:<port>/v1`, set once the server is up."""
        self._lock = threading.Lock()
        self._script: deque[Scripted] = deque()
        self._requests: list[Received] = []
        self._closing = threading.Event()
        self._open = threading.Event()
        self._open.set()
        self._held = 0

    def script(self, *replies: Scripted) -> None:
        """Queue `replies`, served one per request after those already queued."""
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        """Forget the script and the requests, so that one server can serve many tests."""
        with self._lock:
            self._script.clear()
            self._requests.clear()
        self.let_go()

    def hold(self) -> None:
        """Answer nothing more until `let_go`: the drafts asked for meanwhile stay in
        flight, so a test can make a command land while they are."""
        self._open.clear()

    def let_go(self) -> None:
        self._open.set()

    @property
    def holding(self) -> int:
        """How many requests are waiting for `let_go`."""
        with self._lock:
            return self._held

    @property
    def unserved(self) -> int:
        """How many scripted replies no request has taken yet."""
        with self._lock:
            return len(self._script)

    @property
    def requests(self) -> list[Received]:
        """Every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def take(self, request: Received) -> Scripted:
        with self._lock:
            self._requests.append(request)
            return self._script.popleft() if self._script else echo(request.json)

    def release(self) -> None:
        """Cut every delay short: the server is shutting down."""
        self._closing.set()

    async def wait(self, delay_s: float) -> None:
        """Sleep `delay_s`, then while held; cut short when the server shuts down."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay_s
        while not self._closing.is_set() and loop.time() < deadline:
            await asyncio.sleep(min(0.02, deadline - loop.time()))
        if self._open.is_set():
            return
        with self._lock:
            self._held += 1
        try:
            while not self._closing.is_set() and not self._open.is_set():
                await asyncio.sleep(0.02)
        finally:
            with self._lock:
                self._held -= 1


def _app(fake: FakeLLM) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def complete(request: Request) -> Response:
        body = await request.body()
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        reply = fake.take(Received(headers=dict(request.headers), json=parsed))
        await fake.wait(reply.delay_s)
        return Response(
            content=reply.body,
            status_code=reply.status,
            headers=dict(reply.headers),
            media_type="application/json",
        )

    return app


@contextmanager
def fake_llm() -> Iterator[FakeLLM]:
    """Serve a fresh fake on a free loopback port for the duration of the block."""
    fake = FakeLLM()
    with serving(_app(fake)) as url:
        fake.base_url = f"{url}/v1"
        try:
            yield fake
        finally:
            fake.release()
