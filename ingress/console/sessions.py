"""Who is signed in to the console: a session cookie, re-checked on every request.

The cookie holds a random session id (`OperatorDirectory.open_session`); the directory
keeps only its digest, bound to the token that opened it, so revoking the operator ends
the session at the next request. The cookie is `HttpOnly` (no script reads it),
`SameSite=Strict` (no other site's page sends it), `Path=/`, and `Secure` when the
request came over HTTPS. Behind a TLS-terminating proxy that is what the proxy says in
`X-Forwarded-Proto`, believed only from the addresses uvicorn trusts
(`FORWARDED_ALLOW_IPS`, loopback by default): a header anyone can send must not decide.

Every state-changing request also carries a CSRF token: a synchronizer token derived
from the session id (HMAC-SHA256 keyed by it), rendered into the page and sent back by
htmx in a header or by a form in a field. It names nothing and opens nothing; a page
of another site can neither read it nor make one.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, HTTPException, Request, Response, status

from contracts.operators import Operator
from ingress.auth import services_of

COOKIE = "sb_console"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
REFRESH_HEADER = "X-Console-Refresh"
"""Sent by the page's own live refreshes: they read, but are no sign of a person at
work, so they do not keep an idle session alive."""
MAX_FORM_BYTES = 16 * 1024
SIGN_IN_PATH = "/console/sign-in"


@dataclass(frozen=True)
class SignedIn:
    operator: Operator
    session_id: str
    """The cookie's value: never rendered, never logged."""

    @property
    def csrf(self) -> str:
        return csrf_token_of(self.session_id)


class SignInNeeded(Exception):
    """No live console session: the page sends the browser to the sign-in form."""


def csrf_token_of(secret: str) -> str:
    return hmac.new(secret.encode(), b"switchboard console csrf", hashlib.sha256).hexdigest()


def same(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, path: str) -> None:
    response.set_cookie(
        name, value, path=path, httponly=True, samesite="strict", secure=is_https(request)
    )


def forget_cookie(response: Response, request: Request, name: str, path: str) -> None:
    response.delete_cookie(
        name, path=path, httponly=True, samesite="strict", secure=is_https(request)
    )


def signed_in_or_none(request: Request) -> SignedIn | None:
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return None
    services = services_of(request)
    operator = services.operators.session(
        session_id,
        services.clock(),
        services.console_idle,
        touch=request.headers.get(REFRESH_HEADER) is None,
    )
    return None if operator is None else SignedIn(operator, session_id)


def signed_in(request: Request) -> SignedIn:
    """The signed-in operator; `SignInNeeded` otherwise."""
    found = signed_in_or_none(request)
    if found is None:
        raise SignInNeeded
    return found


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form body, each field's first value. Refused (400/413) when it is
    not one: the console's own forms send nothing else."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "the form is too large")
    try:
        text = body.decode("utf-8")
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=50, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the form could not be read") from None
    return {name: values[0] for name, values in fields.items()}


async def checked(request: Request, who: Annotated[SignedIn, Depends(signed_in)]) -> Form:
    """A state-changing request of the signed-in operator, its CSRF token checked
    (403 without it: nothing is done)."""
    form = await read_form(request) if _is_form(request) else {}
    given = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if not same(who.csrf, given):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")
    return Form(who, form)


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "")
    return kind.split(";")[0].strip().lower() == "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Form:
    who: SignedIn
    fields: dict[str, str]


SignedInOperator = Annotated[SignedIn, Depends(signed_in)]
CheckedForm = Annotated[Form, Depends(checked)]
