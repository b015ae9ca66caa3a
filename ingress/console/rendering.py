"""How the console turns read models into HTML: the Jinja2 templates (autoescaped),
the filters they use, and the headers every page carries."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader
from starlette.templating import Jinja2Templates

from contracts.vocabulary import SessionOutcome
from ingress.auth import services_of
from ingress.console import presentation

HERE = Path(__file__).parent
STATIC = HERE / "static"

SECURITY_HEADERS = {
    # Only this server's own files: no inline script, no other origin, no framing.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

templates = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
)
templates.env.filters.update(
    ago=presentation.ago,
    clock=presentation.clock,
    short_hash=presentation.short_hash,
    words=presentation.words,
)
templates.env.globals.update(
    presentation=presentation,
    new_command_id=lambda: uuid.uuid4().hex,
    outcomes=list(SessionOutcome),
)
"""`new_command_id` goes into each control's form, so that clicking twice sends one
command (the intake is idempotent by `command_id`)."""


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        template,
        {"now": services_of(request).clock(), **context},
        status_code=status_code,
        headers=SECURITY_HEADERS,
    )
    assert isinstance(response, HTMLResponse)
    return response
