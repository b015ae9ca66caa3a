"""The `openai` responder: drafts with any OpenAI-compatible chat-completions endpoint.

One `draft` is up to `max_attempts` HTTP calls. A call that timed out, could not
connect, was rate limited (429), met a server error (5xx) or brought back an answer
that is not a draft is retried with jittered exponential backoff (a `Retry-After` is
honoured, up to `RETRY_AFTER_CAP_S`). A request the endpoint refuses as such (400, 401,
403, 404, any other 4xx) fails at once: sending it again would not change the answer.
Every failure is a `ResponderFailed` whose message names the cause but never the API
key; a circuit breaker turns a run of failed drafts into immediate failures.

Logs carry latency, status, attempt and tokens: never the prompt, the customer's text,
the model's answer or the key.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Annotated

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from adapters.llm.breaker import CircuitBreaker
from adapters.llm.prompt import SYSTEM_PROMPT, Answer, request_document, response_format
from contracts.events.reply import TokenUsage
from contracts.ports.responder import (
    Conversation,
    Draft,
    FieldGuess,
    Handoff,
    ResponderFailed,
)

log = structlog.get_logger(__name__)

RETRY_AFTER_CAP_S = 10.0
"""The longest wait a `Retry-After` gets: a reply to a customer that comes minutes late
is worth less than a failure an operator sees now."""

_BACKOFF = wait_random_exponential(multiplier=0.25, max=4.0)
_RETRIED_STATUSES = frozenset({408, 429})
_ERROR_CLIP = 300


class _Retryable(Exception):
    """One attempt failed for a reason that may pass."""

    def __init__(self, message: str, kind: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after_s = retry_after_s


class _Refused(Exception):
    """The endpoint refused the request itself: the same request would be refused again."""


class _Usage(BaseModel):
    model_config = ConfigDict(frozen=True)

    prompt_tokens: Annotated[int, Field(ge=0)] | None = None
    completion_tokens: Annotated[int, Field(ge=0)] | None = None


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True)

    content: str | None = None


class _Choice(BaseModel):
    model_config = ConfigDict(frozen=True)

    message: _Message


class _Completion(BaseModel):
    """The part of a chat completion we read; other keys are ignored."""

    model_config = ConfigDict(frozen=True)

    choices: Annotated[tuple[_Choice, ...], Field(min_length=1)]
    usage: _Usage | None = None


class OpenAIResponder:
    """A `Responder` backed by `POST {base_url}/chat/completions`.

    The answer is validated against `adapters.llm.prompt.Answer`; an answer that does
    not validate is a failed attempt. One exception: a field guess whose `evidence_ref`
    names no pending message is dropped (and logged) while the rest of the draft is
    kept. The reply may still be good, a guess without its evidence cannot be audited,
    and failing the whole draft over one bad guess would cost the customer an answer.

    `sleep` waits between attempts; like the breaker's clock it is injectable so that a
    test need not wait for real.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        timeout_s: float = 20,
        max_attempts: int = 3,
        breaker: CircuitBreaker | None = None,
        http: httpx.Client | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._url = f"{base_url.rstrip('/')}/chat/completions"
        self._api_key = api_key
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._model = model
        self._timeout = httpx.Timeout(timeout_s)
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._breaker = breaker if breaker is not None else CircuitBreaker()
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client()
        self._sleep = sleep

    @property
    def name(self) -> str:
        return f"openai:{self._model}"

    def draft(self, conversation: Conversation) -> Draft:
        if not self._breaker.allow():
            log.warning("llm_call_skipped", responder=self.name, reason="circuit_open")
            wait_s = self._breaker.retry_in_s()
            retry = f"next try in {math.ceil(wait_s)} s" if wait_s else "a trial call is in flight"
            raise ResponderFailed(
                f"not called: circuit open after {self._breaker.failure_threshold} "
                f"consecutive failures; {retry}",
                attempts=1,
            )
        succeeded = False
        try:
            draft = self._draft(conversation)
            succeeded = True
        finally:
            if succeeded:
                self._breaker.record_success()
            else:
                self._breaker.record_failure()
        return draft

    def close(self) -> None:
        """Close the HTTP client, if this responder made it."""
        if self._owns_http:
            self._http.close()

    def _draft(self, conversation: Conversation) -> Draft:
        refs = [message.ref for message in conversation.pending]
        body: dict[str, object] = {
            "model": self._model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": request_document(conversation)},
            ],
            "response_format": response_format(refs),
        }
        retrying = Retrying(
            retry=retry_if_exception_type(_Retryable),
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            sleep=self._sleep,
            reraise=True,
        )
        number = 0
        try:
            for attempt in retrying:
                with attempt:
                    number = attempt.retry_state.attempt_number
                    draft = self._attempt(body, set(refs), number)
        except _Retryable as failure:
            log.error("llm_draft_failed", responder=self.name, attempts=number, error=failure.kind)
            raise ResponderFailed(
                self._redacted(f"{failure}; gave up after attempt {number}"), attempts=number
            ) from None
        except _Refused as failure:
            log.error("llm_draft_failed", responder=self.name, attempts=number, error="refused")
            raise ResponderFailed(
                self._redacted(f"{failure}; not retried"), attempts=number
            ) from None
        return draft

    def _attempt(self, body: dict[str, object], refs: set[str], number: int) -> Draft:
        started = time.monotonic()
        status: int | None = None
        try:
            response = self._call(body)
            status = response.status_code
            draft = self._read(response, refs)
        except (_Retryable, _Refused) as failure:
            kind = failure.kind if isinstance(failure, _Retryable) else "refused"
            log.warning(
                "llm_call_failed",
                responder=self.name,
                attempt=number,
                status=status,
                latency_ms=_ms_since(started),
                error=kind,
            )
            raise
        log.info(
            "llm_call",
            responder=self.name,
            attempt=number,
            status=status,
            latency_ms=_ms_since(started),
            prompt_tokens=draft.tokens.prompt_tokens if draft.tokens else None,
            completion_tokens=draft.tokens.completion_tokens if draft.tokens else None,
        )
        return draft

    def _call(self, body: dict[str, object]) -> httpx.Response:
        try:
            return self._http.post(
                self._url, json=body, headers=self._headers, timeout=self._timeout
            )
        except httpx.TimeoutException:
            raise _Retryable(f"no answer within {self._timeout_s:g} s", "timeout") from None
        except httpx.HTTPError as error:
            raise _Retryable(
                f"could not reach the endpoint: {type(error).__name__}: {error}", "connection"
            ) from None

    def _read(self, response: httpx.Response, refs: set[str]) -> Draft:
        status = response.status_code
        if status == 429:
            raise _Retryable(
                f"rate limited (HTTP 429): {_api_error(response)}",
                "rate_limited",
                _retry_after_s(response.headers.get("retry-after")),
            )
        if status >= 500 or status in _RETRIED_STATUSES:
            raise _Retryable(f"HTTP {status}: {_api_error(response)}", "server_error")
        if status != 200:
            raise _Refused(f"HTTP {status}: {_api_error(response)}")
        try:
            completion = _Completion.model_validate_json(response.content)
            content = completion.choices[0].message.content
            if content is None:
                raise _Retryable("malformed answer: no content (refused?)", "malformed")
            answer = Answer.model_validate_json(content)
        except ValidationError as error:
            raise _Retryable(f"malformed answer: {_describe(error)}", "malformed") from None
        return self._to_draft(answer, refs, completion.usage)

    def _to_draft(self, answer: Answer, refs: set[str], usage: _Usage | None) -> Draft:
        guesses = []
        for guess in answer.fields:
            if guess.evidence_ref not in refs:
                log.warning(
                    "llm_guess_dropped",
                    responder=self.name,
                    field=guess.field.value,
                    reason="evidence_ref names no pending message",
                )
                continue
            guesses.append(
                FieldGuess(
                    field=guess.field,
                    value=guess.value,
                    confidence=guess.confidence,
                    evidence_ref=guess.evidence_ref,
                )
            )
        handoff = (
            Handoff(reason=answer.handoff.reason, detail=answer.handoff.detail)
            if answer.handoff is not None
            else None
        )
        return Draft(
            text=answer.reply,
            intent=answer.intent,
            fields=tuple(guesses),
            handoff=handoff,
            tokens=_tokens(usage),
        )

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, _Retryable) and error.retry_after_s is not None:
            return error.retry_after_s
        return _BACKOFF(state)

    def _redacted(self, message: str) -> str:
        return message.replace(self._api_key, "[redacted]") if self._api_key else message


def _tokens(usage: _Usage | None) -> TokenUsage | None:
    if usage is None or usage.prompt_tokens is None or usage.completion_tokens is None:
        return None
    return TokenUsage(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens)


def _api_error(response: httpx.Response) -> str:
    """The API's own error message (`{"error": {"message": ...}}`), else the body."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        text = error["message"]
    elif isinstance(error, str):
        text = error
    else:
        text = response.text
    text = " ".join(text.split())
    return text[:_ERROR_CLIP] if text else response.reason_phrase


def _retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` (delay-seconds or an HTTP date), capped."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_S)


def _describe(error: ValidationError) -> str:
    """Where and why the answer is wrong, without the values (they may quote the customer)."""
    problems = error.errors(include_url=False, include_context=False, include_input=False)
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'answer'}: {problem['msg']}"
        for problem in problems[:3]
    )


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
