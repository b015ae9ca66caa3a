"""What only admins do from a conversation: reveal the customer's number (a reason
required, audited before it is shown, shown once and hidden again after
`REVEAL_SHOWN_S`) and forget the contact (a typed confirmation, then FORGET_CONTACT
through the command intake). The server checks the role on every request; the page
only leaves out what an operator may not do."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from contracts.vocabulary import EntityId
from ingress.auth import Services
from ingress.console.control import submit_form
from ingress.console.rendering import render
from ingress.console.sessions import CheckedForm
from ingress.errors import Forbidden, Gone, NotFound
from ingress.phone_reveal import reveal_phone

router = APIRouter()

REVEAL_SHOWN_S = 30
FORGET_WORD = "FORGET"
_STATUS = {Forbidden: 403, NotFound: 404, Gone: 410}


@router.post("/leads/{lead_id}/reveal-phone", response_class=HTMLResponse)
def reveal(request: Request, lead_id: EntityId, form: CheckedForm, services: Services) -> Response:
    reason = form.fields.get("reason", "").strip()[:500]
    if not reason:
        return render(request, "_revealed.html", {"problem": "say why you need the number"},
                      status_code=422)  # fmt: skip
    try:
        number = reveal_phone(services, form.who.operator, lead_id, reason)
    except (Forbidden, NotFound, Gone) as error:
        return render(request, "_revealed.html", {"problem": str(error)},
                      status_code=_STATUS[type(error)])  # fmt: skip
    return render(request, "_revealed.html", {"number": number, "seconds": REVEAL_SHOWN_S})


@router.post("/sessions/{session_id}/forget", response_class=HTMLResponse)
def forget(
    request: Request, session_id: EntityId, form: CheckedForm, services: Services
) -> Response:
    if form.fields.get("confirm", "").strip() != FORGET_WORD:
        return render(request, "_command.html", {"command": None,
                      "problem": f"type {FORGET_WORD} to confirm"}, status_code=422)  # fmt: skip
    fields = {**form.fields, "type": "FORGET_CONTACT"}
    body = {k: v for k, v in fields.items() if k in ("type", "reason", "command_id") and v}
    return submit_form(request, form, services, {**body, "target_session_id": session_id})
