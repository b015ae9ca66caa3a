"""The operator API: commands in, their outcome out, and the audited phone reveal.

Routes only translate: parse, call one application function, map its errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, HTTPException, Path, status
from pydantic import BaseModel

from contracts.commands import CommandStatus, OperatorCommand
from contracts.frozen import Frozen
from contracts.snapshots.command import Command
from contracts.vocabulary import EntityId, Reason
from ingress.auth import CurrentOperator, Services
from ingress.command_intake import command_status, submit_command
from ingress.errors import Conflicting, Forbidden, Gone, NotFound
from ingress.phone_reveal import reveal_phone
from ingress.strict_input import StrictJsonRoute

router = APIRouter(prefix="/api", tags=["operators"], route_class=StrictJsonRoute)
T = TypeVar("T")

_STATUS_OF: dict[type[Exception], int] = {
    Forbidden: status.HTTP_403_FORBIDDEN,
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflicting: status.HTTP_409_CONFLICT,
    Gone: status.HTTP_410_GONE,
}


class Problem(Frozen):
    """Why the request was refused."""

    detail: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": error.__doc__ or ""}
    for error, code in _STATUS_OF.items()
}
_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no valid operator token"}
}
_UNREADABLE_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "the body could not be read (not UTF-8 text)"},
    413: {"model": Problem, "description": "the body is over 64 KiB"},
}


def _answer(call: Callable[[], T]) -> T:
    try:
        return call()
    except tuple(_STATUS_OF) as error:
        raise HTTPException(_STATUS_OF[type(error)], str(error)) from error


class CommandAccepted(Frozen):
    command_id: EntityId
    status: CommandStatus


class RevealRequest(Frozen):
    reason: Reason
    """Why the number is needed; recorded in the lead's audit trail."""


class RevealedPhone(BaseModel):
    lead_id: EntityId
    phone_e164: str


@router.post(
    "/commands",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**_UNREADABLE_BODY, **_AUTH_ERRORS, 403: _ERRORS[403], 409: _ERRORS[409]},
)
def post_command(
    command: Annotated[OperatorCommand, Body()], operator: CurrentOperator, services: Services
) -> CommandAccepted:
    """Queue a command: durable when answered, PENDING until the command worker decides.
    Send your own `command_id` to make a retry idempotent."""
    accepted = _answer(lambda: submit_command(services, operator, command))
    return CommandAccepted(command_id=accepted.command_id, status=accepted.status)


@router.get("/commands/{command_id}", responses={**_AUTH_ERRORS, 404: _ERRORS[404]})
def get_command(
    command_id: Annotated[EntityId, Path()], operator: CurrentOperator, services: Services
) -> Command:
    """The command and its outcome: PENDING, APPLIED or REJECTED with a result."""
    return _answer(lambda: command_status(services, command_id))


@router.post(
    "/leads/{lead_id}/reveal-phone",
    responses={**_UNREADABLE_BODY, **_AUTH_ERRORS, **{c: _ERRORS[c] for c in (403, 404, 410)}},
)
def post_reveal_phone(
    lead_id: Annotated[EntityId, Path()],
    request: RevealRequest,
    operator: CurrentOperator,
    services: Services,
) -> RevealedPhone:
    """Admins only: the lead's phone number in clear. Audited (who and why) first."""
    number = _answer(lambda: reveal_phone(services, operator, lead_id, request.reason))
    return RevealedPhone(lead_id=lead_id, phone_e164=number)
