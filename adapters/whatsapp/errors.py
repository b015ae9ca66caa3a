"""What a Graph API answer means for a send: `Sent`, `Refused`, `Ambiguous`, or a
`Transient` refusal that is worth another attempt.

Meta recommends building error handling on `error.code` and `error.error_data.details`
rather than on HTTP statuses or titles:
https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.ports.channel import WINDOW_CLOSED_CODE, Ambiguous, Refused, SendOutcome, Sent

RATE_LIMIT_CODES = frozenset({130429, 131056, 80007})
"""Throughput of the business number, pair rate (business number, customer), and the
WhatsApp Business Account's rate limit: each passes if we wait."""

TRANSIENT_SERVER_CODES = frozenset({1, 2})
"""Meta's "API Unknown" and "API Service" (downtime or overload) on a 5xx: Meta did
not process the request, so another attempt cannot duplicate the message."""


BSUID_UNSUPPORTED_CODE = 131062
"""This kind of message cannot be sent to a business-scoped user id (`recipient`)."""


@dataclass(frozen=True)
class Transient:
    """A refusal that may pass: retried, and reported as `Refused` if it does not."""

    error_code: int | None
    what: str
    """What kept the message from going out, e.g. "rate limited"."""
    detail: str


@dataclass(frozen=True)
class MetaError:
    code: int | None
    message: str


def interpret(status: int, body: Any) -> SendOutcome | Transient:
    """The outcome of one HTTP answer. `body` is the parsed JSON, or None if the
    body was not JSON. Reasons quote Meta's text as it is: the caller redacts it."""
    if 200 <= status < 300:
        return _accepted(body)
    error = meta_error(body, status)
    if error.code in RATE_LIMIT_CODES or status == 429:
        return Transient(error.code, "rate limited", error.message)
    if error.code == WINDOW_CLOSED_CODE:
        return Refused(
            error_code=error.code,
            reason=f"the 24-hour customer window is closed: {error.message}",
        )
    if error.code == BSUID_UNSUPPORTED_CODE:
        return Refused(
            error_code=error.code,
            reason="WhatsApp does not deliver this kind of message to a customer known only "
            f"by their business-scoped user id (no phone number is known): {error.message}",
        )
    if 400 <= status < 500:
        return Refused(error_code=error.code, reason=error.message)
    if status >= 500 and error.code in TRANSIENT_SERVER_CODES:
        return Transient(error.code, "WhatsApp was temporarily unavailable", error.message)
    # A 5xx (or anything unexpected) may come after Meta accepted the message.
    return Ambiguous(
        reason=f"WhatsApp answered HTTP {status}, the message may have gone out: {error.message}"
    )


def _accepted(body: Any) -> Sent | Ambiguous:
    messages = body.get("messages") if isinstance(body, dict) else None
    first = messages[0] if isinstance(messages, list) and messages else None
    message_id = first.get("id") if isinstance(first, dict) else None
    if isinstance(message_id, str) and message_id.strip():
        return Sent(wa_message_id=message_id)
    return Ambiguous(reason="WhatsApp accepted the request but returned no message id")


def meta_error(body: Any, status: int) -> MetaError:
    """Meta's `{"error": {"code", "message", "error_data": {"details"}}}`, read leniently:
    a proxy or load balancer may answer with anything."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return MetaError(code=None, message=f"HTTP {status} without a WhatsApp error body")
    code = error.get("code")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    if not isinstance(code, int) or isinstance(code, bool) or code < 0:
        code = None
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    parts = [str(part).strip() for part in (error.get("message"), details) if part]
    message = " — ".join(part for part in parts if part) or f"HTTP {status}, code {code}"
    return MetaError(code=code, message=message)
