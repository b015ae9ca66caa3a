"""One `SqliteBus.subscribe`: a thread that leases rows and keeps their leases, and a
pool of `max_in_flight` threads that run the handler and ack or nack each row.

The lease of a row in flight is pushed one ack deadline ahead every third of an ack
deadline, as Pub/Sub's client does, so a handler slower than the ack deadline runs
once. A consumer killed mid-handler stops pushing, and the row comes back about one
ack deadline later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import structlog

from contracts.envelope import EventEnvelope
from contracts.ports.bus import Handler

log = structlog.get_logger(__name__)

MAX_LEASE_S = 3600.0
"""How long a lease is kept while its handler runs, like Pub/Sub's default
`max_lease_duration`: a handler still running after that may see its message
delivered again meanwhile."""

NOT_AN_ENVELOPE = "message data is not an event envelope"

_POLL_S = 0.1
"""How often an idle consumer looks for rows published by other processes (this
process's publishes wake it at once)."""


@dataclass(frozen=True)
class Leased:
    """A row leased by this consumer: `attempt` is this delivery's number, and the
    lease holds only while the row still has that many attempts."""

    row_id: int
    attempt: int
    envelope: EventEnvelope | None  # None when the data is not an envelope


class SubscriptionQueue(Protocol):
    """The rows of one subscription, as its consumer sees them."""

    ack_deadline_s: float

    @property
    def closed(self) -> bool: ...

    def lease(self, count: int) -> list[Leased]: ...

    def extend(self, leases: Callable[[], list[Leased]]) -> None: ...

    def ack(self, lease: Leased) -> None: ...

    def nack(self, lease: Leased, error: str) -> None: ...

    def release(self, lease: Leased) -> None: ...

    def wait(self, timeout: float) -> None:
        """Sleep until something is published in this process, or `timeout`."""
        ...

    def wake(self) -> None: ...


@dataclass(frozen=True)
class _Kept:
    lease: Leased
    until: float  # monotonic time after which the lease is no longer extended


class SqliteConsumer:
    def __init__(
        self, queue: SubscriptionQueue, subscription: str, handler: Handler, max_in_flight: int
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight}")
        self._queue = queue
        self._subscription = subscription
        self._handler = handler
        self._max_in_flight = max_in_flight
        self._keep_every_s = queue.ack_deadline_s / 3
        self._changed = threading.Condition()
        self._accepting = True
        self._in_flight = 0  # handlers submitted and not finished
        self._kept: dict[int, _Kept] = {}  # leases extended until their handler settles
        self._pool = ThreadPoolExecutor(max_in_flight, thread_name_prefix=f"bus-{subscription}")
        self._thread = threading.Thread(target=self._run, name=f"{subscription}-pull", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Taking messages, or keeping the leases of handlers still running."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """Handlers still running after `timeout` go on in the background; their
        leases are kept and they ack or nack when they finish."""
        with self._changed:
            self._accepting = False
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._queue.wake()
        with self._changed:
            finished = self._changed.wait_for(lambda: self._in_flight == 0, timeout)
        if finished:
            log.info("consumer_stopped", subscription=self._subscription)
        else:
            log.warning(
                "consumer_stop_timed_out", subscription=self._subscription, timeout_s=timeout
            )

    def _run(self) -> None:
        """Lease and keep leases until stopped and every handler finished, or the bus
        closed. A failure (the file locked longer than the busy timeout, a disk
        error) is logged and retried after a pause; it never ends the loop."""
        failures = 0
        next_keep = time.monotonic() + self._keep_every_s
        while not self._queue.closed and self._wanted():
            pause = _POLL_S
            try:
                if time.monotonic() >= next_keep:
                    self._keep_leases()
                    next_keep = time.monotonic() + self._keep_every_s
                if self._take():
                    pause = 0.0
                failures = 0
            except Exception as error:
                if self._queue.closed:
                    return
                failures += 1
                pause = min(self._keep_every_s, _POLL_S * 2 ** min(failures, 10))
                log.error(
                    "consumer_pull_failed",
                    subscription=self._subscription,
                    error=f"{type(error).__name__}: {error}",
                    failures=failures,
                    retry_in_s=pause,
                )
            if pause:
                self._queue.wait(pause)

    def _wanted(self) -> bool:
        with self._changed:
            return self._accepting or self._in_flight > 0

    def _take(self) -> bool:
        """Lease as many rows as there are idle handlers; True if that filled them all,
        so that there may be more to take at once."""
        with self._changed:
            free = self._max_in_flight - self._in_flight if self._accepting else 0
        if not free:
            return False
        leased = self._queue.lease(free)
        started, refused = [], []
        with self._changed:
            for lease in leased:
                if not self._accepting:  # stopped meanwhile: the pool takes no more
                    refused.append(lease)
                    continue
                self._in_flight += 1
                self._kept[lease.row_id] = _Kept(lease, time.monotonic() + MAX_LEASE_S)
                started.append((lease, self._pool.submit(self._handle, lease)))
        for lease, future in started:
            future.add_done_callback(partial(self._finished, lease))
        for lease in refused:
            self._queue.release(lease)
        return len(leased) == free

    def _keep_leases(self) -> None:
        now = time.monotonic()
        with self._changed:
            expired = [kept.lease for kept in self._kept.values() if now >= kept.until]
            for lease in expired:
                del self._kept[lease.row_id]
            if not self._kept:
                return
        for lease in expired:
            log.warning(
                "lease_no_longer_extended",
                subscription=self._subscription,
                message_id=str(lease.row_id),
                attempt=lease.attempt,
                max_lease_s=MAX_LEASE_S,
            )
        self._queue.extend(self._kept_leases)

    def _kept_leases(self) -> list[Leased]:
        with self._changed:
            return [kept.lease for kept in self._kept.values()]

    def _handle(self, lease: Leased) -> None:
        bound = log.bind(
            subscription=self._subscription, message_id=str(lease.row_id), attempt=lease.attempt
        )
        error = None
        if lease.envelope is None:
            bound.warning("message_undecodable")
            error = NOT_AN_ENVELOPE
        else:
            envelope = lease.envelope
            bound = bound.bind(event_id=envelope.event_id, correlation_id=envelope.correlation_id)
            try:
                self._handler(envelope)
            except Exception as failure:  # any handler failure means "deliver it again"
                bound.warning("handler_failed", error=type(failure).__name__)
                error = f"{type(failure).__name__}: {failure}"
        with self._changed:  # settled from here on: the lease must not be pushed back
            self._kept.pop(lease.row_id, None)
        if error is None:
            self._queue.ack(lease)
        else:
            self._queue.nack(lease, error)

    def _finished(self, lease: Leased, future: Future[None]) -> None:
        with self._changed:
            self._in_flight -= 1
            self._kept.pop(lease.row_id, None)
            self._changed.notify_all()
        if future.cancelled():  # stopped before it ran: hand the lease back
            self._settle_quietly(lease, "release", lambda: self._queue.release(lease))
            return
        error = future.exception()
        if error is not None:
            self._log_unsettled(lease, "settle", error)

    def _settle_quietly(self, lease: Leased, action: str, settle: Callable[[], None]) -> None:
        try:
            settle()
        except Exception as error:
            self._log_unsettled(lease, action, error)

    def _log_unsettled(self, lease: Leased, action: str, error: BaseException) -> None:
        fields = {
            "subscription": self._subscription,
            "message_id": str(lease.row_id),
            "attempt": lease.attempt,
            "action": action,
        }
        if self._queue.closed:  # the bus closed under a handler that outlived it
            log.info("settle_dropped_bus_closed", **fields)
        else:
            log.error("settle_failed", **fields, error=f"{type(error).__name__}: {error}")
