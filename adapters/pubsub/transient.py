"""Retries of calls to Pub/Sub that failed for a reason that may pass.

This is the one retry layer of the adapter: the client's own per-call retries are
turned off (`retry=None`) where we retry, so that attempts do not multiply and the
worst case is bounded here.
"""

from __future__ import annotations

import structlog
from google.api_core import exceptions
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

log = structlog.get_logger(__name__)

RPC_TIMEOUT_S = 20.0
"""Deadline of one call; a retry gets a fresh one."""

TRANSIENT: tuple[type[BaseException], ...] = (
    exceptions.Aborted,
    exceptions.Cancelled,
    exceptions.DeadlineExceeded,
    exceptions.InternalServerError,
    exceptions.ResourceExhausted,
    exceptions.ServiceUnavailable,
    exceptions.Unknown,
    TimeoutError,  # a publish future that did not resolve in time
)


def retrying(operation: str) -> Retrying:
    """Up to 5 attempts within about a minute, with jittered exponential backoff;
    the last error is raised as it is."""

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "pubsub_call_retrying",
            operation=operation,
            attempt=state.attempt_number,
            error=type(error).__name__,
        )

    return Retrying(
        retry=retry_if_exception_type(TRANSIENT),
        stop=stop_after_attempt(5) | stop_after_delay(60),
        wait=wait_random_exponential(multiplier=0.5, max=10),
        before_sleep=before_sleep,
        reraise=True,
    )
