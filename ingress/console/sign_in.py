"""Signing in and out of the console.

The sign-in form is CSRF-protected too (against being signed in as someone else by
another site): its GET sets a short-lived random cookie and puts the same value in a
hidden field; the POST must bring both, equal (double submit). The token itself goes
only in the POST body, is never rendered back, and is never logged.
"""

from __future__ import annotations

import secrets

import structlog
from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ingress.auth import Services
from ingress.console.rendering import render
from ingress.console.sessions import (
    COOKIE,
    CSRF_FIELD,
    SIGN_IN_PATH,
    CheckedForm,
    forget_cookie,
    read_form,
    same,
    set_cookie,
    signed_in_or_none,
)

router = APIRouter()
log = structlog.get_logger(__name__)

NONCE_COOKIE = "sb_console_sign_in"


def _form(request: Request, error: str | None = None, status_code: int = 200) -> HTMLResponse:
    nonce = secrets.token_urlsafe(32)
    response = render(request, "sign_in.html", {"who": None, "nonce": nonce, "error": error},
                      status_code=status_code)  # fmt: skip
    set_cookie(response, request, NONCE_COOKIE, nonce, path=SIGN_IN_PATH)
    return response


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request) -> Response:
    if signed_in_or_none(request) is not None:
        return RedirectResponse("/console", status.HTTP_303_SEE_OTHER)
    return _form(request)


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request, services: Services) -> Response:
    form = await read_form(request)
    if not same(request.cookies.get(NONCE_COOKIE, ""), form.get(CSRF_FIELD)) or not form.get(
        CSRF_FIELD
    ):
        return _form(request, "This sign-in form expired. Paste your token again.", 403)
    session_id = services.operators.open_session(form.get("token", "").strip(), services.clock())
    if session_id is None:
        log.info("console_sign_in_refused")
        return _form(request, "That token does not open the console (unknown or revoked).", 401)
    operator = services.operators.session(session_id, services.clock(), services.console_idle)
    log.info("console_signed_in", operator=operator.name if operator else None)
    response = RedirectResponse("/console", status.HTTP_303_SEE_OTHER)
    set_cookie(response, request, COOKIE, session_id, path="/")
    forget_cookie(response, request, NONCE_COOKIE, path=SIGN_IN_PATH)
    return response


@router.post("/sign-out")
def sign_out(request: Request, form: CheckedForm, services: Services) -> Response:
    services.operators.close_session(form.who.session_id)
    log.info("console_signed_out", operator=form.who.operator.name)
    response = RedirectResponse(SIGN_IN_PATH, status.HTTP_303_SEE_OTHER)
    forget_cookie(response, request, COOKIE, path="/")
    return response
