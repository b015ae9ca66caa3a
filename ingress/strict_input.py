"""How the HTTP edge reads what a client sends, and how it says no.

Every JSON request body is parsed by `contracts.strict_json` (no `NaN`, no infinities,
no lone surrogates, bounded nesting) before FastAPI validates it against its model, so
a value that would fail later, in a store or a response, is a 422 here and nothing is
written. A refusal names where and why, never the value: the value may be a megabyte,
a phone number, or not encodable at all.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from contracts import strict_json

MAX_MESSAGE = 300
"""Characters of a validation message kept: some quote what they refuse (a union's tag)."""


MAX_BODY_BYTES = 64 * 1024
"""The largest request body read: a command's longest text (a 4,000-character note, a
4,096-character message) is a few kilobytes even escaped."""


class StrictJsonRequest(Request):
    async def body(self) -> bytes:
        """The body, refused (413) as soon as it is known to exceed `MAX_BODY_BYTES`."""
        if not hasattr(self, "_body"):
            declared = self.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                raise _too_large()
            body = bytearray()
            async for chunk in self.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise _too_large()
            self._body = bytes(body)
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_json.loads(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """An API route whose JSON body is read by `strict_json`. FastAPI turns its
    `InvalidJson` (a `JSONDecodeError`) into a 422 like any other unreadable body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict_handler


def _too_large() -> HTTPException:
    return HTTPException(413, f"the body is over {MAX_BODY_BYTES} bytes")


async def validation_refused(request: Request, error: Exception) -> JSONResponse:
    """422 with each problem's location, message and type; the input is not echoed."""
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": [_problem(e) for e in error.errors()]}, status_code=422)


def _problem(error: Any) -> dict[str, Any]:
    kind = str(error.get("type", "value_error"))
    message = str(error.get("msg", "invalid"))
    context = error.get("ctx") or {}
    loc = [part if isinstance(part, int) else str(part)[:100] for part in error["loc"]]
    if kind == "json_invalid" and context.get("error"):
        message = f"{message}: {context['error']}"
    elif kind == "union_tag_invalid":  # its message quotes the tag sent
        message = f"{context.get('discriminator', 'type')} must be one of: " + str(
            context.get("expected_tags", "")
        )
    elif kind == "extra_forbidden":  # the key itself is the client's, e.g. a number
        loc[-1] = "(a field this body does not have)"
    return {
        "loc": loc,
        "msg": message[:MAX_MESSAGE],
        "type": kind,
    }
