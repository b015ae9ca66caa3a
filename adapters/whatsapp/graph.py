"""`Channel` over WhatsApp's Cloud API: `POST /{version}/{phone_number_id}/messages`.

Only what cannot have reached the customer is retried: rate limits, Meta's transient
codes, and connections that failed before the request was sent. A timeout, a dropped
connection or a 5xx may come after Meta accepted the message; resending could deliver
it twice, so those come out as `Ambiguous` at once and an operator decides.
"""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

import httpx
import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_result,
    stop_after_attempt,
    wait_random_exponential,
)

from adapters.whatsapp.errors import Transient, interpret
from contracts.ports.channel import Ambiguous, Recipient, Refused, SendOutcome

log = structlog.get_logger(__name__)

NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport failures before any byte of the request left: no connection, no DNS."""

_SHORTEST_SECRET = 4
"""Shorter strings identify no one, and masking them would garble Meta's words."""

_PHONE_LIKE = re.compile(r"(?<![\w.])(?:\+\d(?:[ ().-]{0,2}\d){6,14}|\d{10,15})(?!\w)")
"""A number in international format, or a bare run of 10 to 15 digits: what Meta
would write if it quoted a customer's number we did not give it ourselves."""


class GraphChannel:
    """Sends text messages through the Graph API with a system-user access token.

    `max_attempts` counts every attempt, the first included. Between attempts the wait
    is drawn at random up to `backoff_s[0]` doubled after each attempt, never more
    than `backoff_s[1]` (exponential backoff with full jitter)."""

    def __init__(
        self,
        access_token: str,
        api_base: str = "https://graph.facebook.com",
        api_version: str = "v23.0",
        timeout_s: float = 10,
        max_attempts: int = 4,
        backoff_s: tuple[float, float] = (0.5, 8.0),
        http: httpx.Client | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts counts the first attempt: it must be at least 1")
        self._token = access_token
        self._messages_base = f"{api_base.rstrip('/')}/{api_version}"
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client()

    def close(self) -> None:
        """Close the HTTP client, unless it was handed in (its owner closes it)."""
        if self._owns_http:
            self._http.close()

    def send_text(self, business_number_id: str, to: Recipient, text: str) -> SendOutcome:
        url = f"{self._messages_base}/{business_number_id}/messages"
        body = _text_message(to, text)
        secrets = [self._token, to.phone, to.user_id, body.get("to"), text]
        attempts = itertools.count(1)
        retrying = Retrying(
            retry=retry_if_result(lambda outcome: isinstance(outcome, Transient)),
            stop=stop_after_attempt(self._max_attempts),
            wait=wait_random_exponential(multiplier=self._backoff_s[0], max=self._backoff_s[1]),
            retry_error_callback=_last_outcome,
        )
        outcome: SendOutcome | Transient = retrying(
            lambda: self._attempt(url, body, next(attempts))
        )
        if isinstance(outcome, Transient):
            outcome = Refused(
                error_code=outcome.error_code,
                reason=f"{outcome.what} after {self._max_attempts} attempts: {outcome.detail}",
            )
        return _redacted(outcome, secrets, keep=business_number_id)

    def _attempt(self, url: str, body: dict[str, Any], attempt: int) -> SendOutcome | Transient:
        started = time.monotonic()
        try:
            response = self._http.post(
                url,
                json=body,
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=self._timeout_s,
            )
        except NOT_SENT as error:
            _log_attempt(attempt, started, error=type(error).__name__)
            return Transient(None, "could not connect to WhatsApp", _describe(error))
        except httpx.TimeoutException as error:
            _log_attempt(attempt, started, error=type(error).__name__)
            return Ambiguous(
                reason=f"no answer from WhatsApp within {self._timeout_s:g} s "
                f"({type(error).__name__}): the message may have gone out"
            )
        except httpx.TransportError as error:
            _log_attempt(attempt, started, error=type(error).__name__)
            return Ambiguous(
                reason=f"the connection to WhatsApp failed after the request was sent "
                f"({_describe(error)}): the message may have gone out"
            )
        outcome = interpret(response.status_code, _json_or_none(response))
        code = outcome.error_code if isinstance(outcome, Refused | Transient) else None
        _log_attempt(
            attempt,
            started,
            status=response.status_code,
            code=code,
            outcome=type(outcome).__name__,
        )
        return outcome


def _last_outcome(state: RetryCallState) -> Any:
    """When attempts run out, hand back the last transient refusal instead of raising."""
    return state.outcome.result() if state.outcome else None


def _text_message(to: Recipient, text: str) -> dict[str, Any]:
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    if to.phone is not None:
        # Meta's examples and its `wa_id` give the number as digits, without the "+".
        body["to"] = to.phone.removeprefix("+")
    else:
        # A user known only by the business-scoped user id (BSUID) is addressed with
        # `recipient`, not `to` ("Business-scoped user IDs", WhatsApp Business Platform
        # documentation, 2026); `to` wins when both are given, so only one is sent.
        body["recipient"] = to.user_id
    return body | {"type": "text", "text": {"preview_url": False, "body": text}}


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _describe(error: Exception) -> str:
    detail = str(error).strip()
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


def _redacted(outcome: SendOutcome, secrets: list[str | None], keep: str) -> SendOutcome:
    """A reason is recorded in the event store, and Meta's error texts may quote the
    recipient: none may carry the token, a number, the user id or the message. `keep`
    (the business line's id, which looks like a number) stays readable."""
    if not isinstance(outcome, Refused | Ambiguous):
        return outcome
    reason = outcome.reason
    for secret in secrets:
        if secret and len(secret) >= _SHORTEST_SECRET:
            reason = reason.replace(secret, "[redacted]")
    reason = _PHONE_LIKE.sub(lambda found: found[0] if found[0] == keep else "[phone]", reason)
    return type(outcome).model_validate(outcome.model_dump() | {"reason": reason})


def _log_attempt(attempt: int, started: float, **fields: object) -> None:
    latency_ms = round((time.monotonic() - started) * 1000, 1)
    log.info("whatsapp_send_attempt", attempt=attempt, latency_ms=latency_ms, **fields)
