"""The console, assembled: its routes under `/console`, its static files, and how it
answers a browser that is not signed in. None of it is in the OpenAPI schema: the
console is pages for people, the API is `/api`."""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from ingress.console import admin, control, dashboard, live, pages, sign_in
from ingress.console.rendering import STATIC
from ingress.console.sessions import SIGN_IN_PATH, SignInNeeded


def install(app: FastAPI) -> None:
    for part in (sign_in, live, control, admin, dashboard, pages):
        app.include_router(part.router, prefix="/console", include_in_schema=False)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    app.add_exception_handler(SignInNeeded, _to_sign_in)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/console", status.HTTP_303_SEE_OTHER)


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
