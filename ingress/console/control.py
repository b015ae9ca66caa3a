"""The console's controls: each click is a command sent through the same intake as
`POST /api/commands` (`ingress/command_intake.py`), carrying the control version the
operator saw. The answer is the command's status, PENDING, which the fragment polls
until the command worker makes it APPLIED or REJECTED (with the reason in words)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import TypeAdapter, ValidationError

from contracts.commands import CommandStatus, CommandType, OperatorCommand
from contracts.snapshots.command import Command
from contracts.vocabulary import EntityId
from ingress.auth import Services
from ingress.command_intake import command_status, submit_command
from ingress.console.rendering import render
from ingress.console.sessions import CheckedForm, SignedInOperator
from ingress.errors import Conflicting, Forbidden, NotFound

router = APIRouter()
_COMMAND: TypeAdapter[Any] = TypeAdapter(OperatorCommand)

SESSION_COMMANDS = {
    CommandType.TAKEOVER, CommandType.RELEASE, CommandType.CLOSE,
    CommandType.MARK_READY_FOR_HUMAN, CommandType.ADD_NOTE, CommandType.SEND_MESSAGE,
}  # fmt: skip
SYSTEM_COMMANDS = {CommandType.PAUSE_ALL, CommandType.RESUME_ALL}
TEXT_FIELDS = ("type", "reason", "outcome", "note", "text", "priority", "command_id")
NUMBER_FIELDS = ("expected_control_version", "reopen_cooldown_minutes")
APPLIED_EVENT = "console-command-applied"
"""Sent to the page (`HX-Trigger`) once a command is applied: its panels refresh at
once instead of showing the old state until the stream's next change."""


def _command_body(fields: dict[str, str], allowed: set[CommandType]) -> dict[str, Any] | str:
    """The command's JSON body from a form, or what is wrong with it, in words."""
    body: dict[str, Any] = {k: v.strip() for k in TEXT_FIELDS if (v := fields.get(k, "")).strip()}
    for name in NUMBER_FIELDS:
        value = fields.get(name, "").strip()
        if value:
            body[name] = int(value) if value.isdigit() and len(value) < 19 else value
    if "answer_waiting" in fields or body.get("type") == CommandType.RESUME_ALL:
        body["answer_waiting"] = fields.get("answer_waiting") == "on"
    if body.get("type") not in allowed:
        return "that is not a control of this page"
    return body


def _refused(request: Request, message: str, status_code: int) -> HTMLResponse:
    return render(request, "_command.html", {"command": None, "problem": message},
                  status_code=status_code)  # fmt: skip


def submit_form(request: Request, form: CheckedForm, services: Services,
                body: dict[str, Any] | str) -> Response:  # fmt: skip
    """Validate the body as an `OperatorCommand`, hand it to the intake, and answer
    with its status (or why it was not sent)."""
    if isinstance(body, str):
        return _refused(request, body, 422)
    try:
        command = _COMMAND.validate_python(body)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'form'}: {e['msg']}"[:200]
            for e in error.errors()
        )
        return _refused(request, f"not sent: {problems}", 422)
    try:
        accepted = submit_command(services, form.who.operator, command)
    except Forbidden as error:
        return _refused(request, str(error), 403)
    except Conflicting as error:
        return _refused(request, str(error), 409)
    return _status(request, accepted)


@router.post("/sessions/{session_id}/commands", response_class=HTMLResponse)
def session_command(
    request: Request, session_id: EntityId, form: CheckedForm, services: Services
) -> Response:
    body = _command_body(form.fields, SESSION_COMMANDS)
    if isinstance(body, dict):
        body["target_session_id"] = session_id
    return submit_form(request, form, services, body)


@router.post("/system/commands", response_class=HTMLResponse)
def system_command(request: Request, form: CheckedForm, services: Services) -> Response:
    return submit_form(request, form, services, _command_body(form.fields, SYSTEM_COMMANDS))


@router.get("/commands/{command_id}", response_class=HTMLResponse)
def command(
    request: Request,
    command_id: EntityId,
    who: SignedInOperator,
    services: Services,
) -> Response:
    try:
        found = command_status(services, command_id)
    except NotFound as error:
        return _refused(request, str(error), 404)
    return _status(request, found)


def _status(request: Request, command: Command) -> HTMLResponse:
    response = render(request, "_command.html", {"command": command, "problem": None})
    if command.status is CommandStatus.APPLIED:
        response.headers["HX-Trigger"] = APPLIED_EVENT
    return response
