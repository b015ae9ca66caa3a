"""Retries of calls to Firestore that failed for a reason that may pass: unavailable,
past the deadline, out of quota. Backoff with jitter, six attempts at most.

Only for calls that are safe to repeat; each adapter says why its calls are."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from google.api_core.exceptions import DeadlineExceeded, ResourceExhausted, ServiceUnavailable
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

R = TypeVar("R")

_RETRYING = Retrying(
    retry=retry_if_exception_type((ServiceUnavailable, DeadlineExceeded, ResourceExhausted)),
    wait=wait_random_exponential(multiplier=0.05, max=2.0),
    stop=stop_after_attempt(6),
    reraise=True,
)


def retrying(fn: Callable[[], R]) -> R:
    """`fn()`, called again on a transient error."""
    return _RETRYING.copy()(fn)
