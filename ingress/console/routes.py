"""The console, assembled: its routes under `/console`, its static files, and how it
answers a browser that is not signed in. None of it is in the OpenAPI schema: the
console is pages for people, the API is `/api`."""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingress.console import admin, control, dashboard, live, pages, sign_in
from ingress.console.rendering import STATIC, render
from ingress.console.sessions import SIGN_IN_PATH, SignInNeeded


def install(app: FastAPI) -> None:
    for part in (sign_in, live, control, admin, dashboard, pages):
        app.include_router(part.router, prefix="/console", include_in_schema=False)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    app.add_exception_handler(SignInNeeded, _to_sign_in)
    app.add_exception_handler(StarletteHTTPException, _refusal)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/console", status.HTTP_303_SEE_OTHER)


async def _refusal(request: Request, error: Exception) -> Response:
    """A console page that cannot be served says why in a page (or, to htmx, in a line
    its target shows); elsewhere FastAPI's JSON answer is kept."""
    assert isinstance(error, StarletteHTTPException)
    if not request.url.path.startswith("/console") or request.url.path == "/console/stream":
        return await http_exception_handler(request, error)
    detail = str(error.detail)
    if request.headers.get("HX-Request"):
        line = render(request, "_command.html", {"command": None, "problem": detail},
                      status_code=error.status_code)  # fmt: skip
        line.headers.update(error.headers or {})
        return line
    title = {400: "Bad request", 403: "Not allowed", 404: "Not found"}.get(
        error.status_code, "Cannot show this page"
    )
    page = render(request, "error.html", {"who": None, "title": title, "detail": detail},
                  status_code=error.status_code)  # fmt: skip
    page.headers.update(error.headers or {})
    return page


async def _to_sign_in(request: Request, error: Exception) -> Response:
    """A page goes to the sign-in form; an htmx request (a refresh, a click) is told to
    send the whole page there; the stream gets a plain 401 (htmx-ext-sse retries it)."""
    if request.headers.get("HX-Request"):
        return Response(
            status_code=status.HTTP_401_UNAUTHORIZED, headers={"HX-Redirect": SIGN_IN_PATH}
        )
    if request.url.path == "/console/stream" or request.method != "GET":
        return Response("sign in first", status.HTTP_401_UNAUTHORIZED, media_type="text/plain")
    return RedirectResponse(SIGN_IN_PATH, status.HTTP_303_SEE_OTHER)
