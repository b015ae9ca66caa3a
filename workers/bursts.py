"""Customers write in bursts ("oi" / "tudo bem?" / "quanto custa?"). A reply waits
until the burst is over, and only the handler of its last message drafts it.

The wait is a plain timed sleep, so it holds across processes; within one process a
newer message of the same session wakes the earlier waiters at once, so they step
aside without sleeping out the debounce."""

from __future__ import annotations

import threading


class Bursts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, list[threading.Event]] = {}

    def arrived(self, session_id: str) -> None:
        """A message of the session was recorded: wake whoever waits on it."""
        with self._lock:
            waiters = self._waiters.pop(session_id, [])
        for waiter in waiters:
            waiter.set()

    def quiet_for(self, session_id: str, seconds: float) -> bool:
        """True if no newer message of the session arrived here for `seconds`."""
        if seconds <= 0:
            return True
        waiter = threading.Event()
        with self._lock:
            self._waiters.setdefault(session_id, []).append(waiter)
        woken = waiter.wait(seconds)
        with self._lock:
            waiting = self._waiters.get(session_id, [])
            if waiter in waiting:
                waiting.remove(waiter)
                if not waiting:
                    del self._waiters[session_id]
        return not woken
