"""`GET|POST /webhooks/whatsapp`: Meta's subscription check and its deliveries.

A POST is answered 200 only once what it carries is durable: its messages and statuses
published on the `inbound` topic, each part that does not fit kept alone as a dead
letter, or the unreadable body kept whole as a dead letter. Only the
signature decides a refusal (401); anything else Meta would retry for days. Nothing
slow happens here: the conversation worker reads the topic.
"""

from __future__ import annotations

import hmac
from typing import Annotated

import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from ingress.inbound import PayloadRejected, RejectedPart, parse_body, translate
from ingress.rejected import keep_rejected
from ingress.services import INBOUND_TOPIC, IngressServices
from ingress.signature import HEADER, SignatureInvalid, claimed_digest, verify_signature

PATH = "/webhooks/whatsapp"
MAX_BODY_BYTES = 3 * 1024 * 1024
_LOGGED_IDS = 20

log = structlog.get_logger(__name__)
router = APIRouter(tags=["whatsapp"])


class BodyTooLarge(Exception):
    """The body exceeds `MAX_BODY_BYTES`; it is not read further."""


@router.get(
    PATH,
    response_class=PlainTextResponse,
    responses={200: {"description": "the challenge, echoed"}, 403: {"description": "refused"}},
)
def verify_subscription(
    request: Request,
    mode: Annotated[str, Query(alias="hub.mode")] = "",
    token: Annotated[str, Query(alias="hub.verify_token")] = "",
    challenge: Annotated[str, Query(alias="hub.challenge", max_length=256)] = "",
) -> PlainTextResponse:
    """Meta's check when the webhook is configured: echo `hub.challenge` when the
    verify token is ours."""
    services: IngressServices = request.app.state.services
    expected = services.whatsapp_verify_token.encode()
    if mode == "subscribe" and expected and hmac.compare_digest(token.encode(), expected):
        return PlainTextResponse(challenge)
    log.warning("webhook verification refused", mode_is_subscribe=mode == "subscribe")
    return PlainTextResponse("forbidden", status_code=403)


@router.post(
    PATH,
    responses={
        200: {"description": "durable: published, or kept for operators"},
        401: {"description": f"{HEADER} missing or wrong"},
        413: {"description": f"body over {MAX_BODY_BYTES} bytes"},
    },
    openapi_extra={
        "parameters": [
            {
                "name": HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    },
)
async def receive(request: Request) -> JSONResponse:
    """A delivery from Meta, signed with the app secret over the raw body."""
    services: IngressServices = request.app.state.services
    header = request.headers.get(HEADER)
    try:
        claimed_digest(header)
        body = await _read_capped(request)
        verify_signature(services.whatsapp_app_secret, body, header)
    except SignatureInvalid as error:
        log.warning("webhook signature refused", problem=error.problem.name)
        return JSONResponse({"detail": str(error)}, status_code=401)
    except BodyTooLarge:
        log.warning("webhook body too large", limit=MAX_BODY_BYTES)
        return JSONResponse({"detail": f"body over {MAX_BODY_BYTES} bytes"}, status_code=413)
    outcome = await run_in_threadpool(accept, services, body)
    return JSONResponse(outcome)


def accept(services: IngressServices, body: bytes) -> dict[str, str | int | list[str]]:
    """Publish what a verified body carries and keep each part that does not fit as a
    dead letter, or keep the whole body when it cannot be read at all; return once all
    of it is durable."""
    try:
        translation = translate(parse_body(body), services.vault, services.clock())
    except PayloadRejected as rejected:
        event_id = keep_rejected(
            services.store, services.bus, services.vault, body, rejected.reason, services.clock()
        )
        log.warning(
            "webhook body kept as a dead letter",
            reason=rejected.reason,
            correlation_id=event_id,
            size=len(body),
        )
        return {"status": "kept_for_operators", "event_id": event_id}
    if translation.envelopes:
        services.bus.publish(INBOUND_TOPIC, translation.envelopes)
    kept = [_keep_part(services, part) for part in translation.rejected]
    log.info(
        "webhook published",
        messages=translation.messages,
        statuses=translation.statuses,
        ignored_statuses=translation.ignored_statuses,
        kept_for_operators=len(kept),
        echoes=translation.echoes,
        correlation_ids=[e.correlation_id for e in translation.envelopes[:_LOGGED_IDS]],
    )
    outcome: dict[str, str | int | list[str]] = {
        "status": "published",
        "messages": translation.messages,
        "statuses": translation.statuses,
    }
    if kept:
        outcome["kept_for_operators"] = kept
    return outcome


def _keep_part(services: IngressServices, part: RejectedPart) -> str:
    reason = f"one part of a delivery, {part.reason}"
    now = services.clock()
    event_id = keep_rejected(services.store, services.bus, services.vault, part.raw, reason, now)
    log.warning("webhook part kept as a dead letter", reason=reason, correlation_id=event_id)
    return event_id


async def _read_capped(request: Request) -> bytes:
    """The raw body, refused as soon as it is known to exceed the limit: from its
    declared length before reading, or while streaming when it lied or declared none."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise BodyTooLarge
    return bytes(body)
