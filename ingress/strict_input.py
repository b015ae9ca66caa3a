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

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from contracts import strict_json

MAX_MESSAGE = 300
"""Characters of a validation message kept: some quote what they refuse (a union's tag)."""


class StrictJsonRequest(Request):
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


async def validation_refused(request: Request, error: Exception) -> JSONResponse:
    """422 with each problem's location, message and type; the input is not echoed."""
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": [_problem(e) for e in error.errors()]}, status_code=422)


def _problem(error: Any) -> dict[str, Any]:
    message = str(error.get("msg", "invalid"))
    reason = (error.get("ctx") or {}).get("error")
    if error.get("type") == "json_invalid" and reason:
        message = f"{message}: {reason}"
    return {
        "loc": [part if isinstance(part, int) else str(part)[:100] for part in error["loc"]],
        "msg": message[:MAX_MESSAGE],
        "type": str(error.get("type", "value_error")),
    }
