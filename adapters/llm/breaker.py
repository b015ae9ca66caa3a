"""A circuit breaker: stop calling an endpoint that keeps failing, then try it again.

While an LLM endpoint is down, every conversation would otherwise wait through its
timeouts and retries before failing; an open breaker fails them at once and spares the
endpoint the load while it recovers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "CLOSED"
    """Calls go through; consecutive failures are counted."""
    OPEN = "OPEN"
    """Calls are refused until `reset_after_s` has passed since the last failure."""
    HALF_OPEN = "HALF_OPEN"
    """One probe call is in flight; the others are refused until it reports."""


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures, refuses calls for
    `reset_after_s`, then lets one probe through: its success closes the breaker, its
    failure opens it again. Safe to share between threads.

    Every call that `allow` admits must be followed by `record_success` or
    `record_failure`, or a probe would hold the breaker half-open for ever."""

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_after_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_after_s < 0:
            raise ValueError("reset_after_s must not be negative")
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state

    def allow(self) -> bool:
        """Whether a call may go out now; the first call after the pause is the probe."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.OPEN and self._remaining_s() == 0:
                self._state = BreakerState.HALF_OPEN
                return True
            return False

    def retry_in_s(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        with self._lock:
            return self._remaining_s()

    def record_success(self) -> None:
        with self._lock:
            self._state = BreakerState.CLOSED
            self._failures = 0

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            # Not reset when the breaker opens: a failed probe is over the threshold too.
            if self._failures >= self.failure_threshold:
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()

    def _remaining_s(self) -> float:
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.reset_after_s - self._clock())
