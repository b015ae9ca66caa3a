"""Re-encrypting vault entries under the newest key, the same way on every back end.

An entry is rewritten only if it still holds the ciphertext that was read: a
`remember` or `forget` that lands between the read and the write wins, and the
rotation looks again instead of putting back an older identity.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

import structlog

from adapters.crypto.cipher import VaultCipher
from adapters.crypto.keyring import Ciphertext
from contracts.ports.vault import Progress, RotationReport, SealBroken

log = structlog.get_logger(__name__)

ATTEMPTS = 5


class RotationContended(RuntimeError):
    """An entry kept changing back to an old key while it was being rotated."""


class Outcome(Enum):
    REENCRYPTED = "reencrypted"
    ALREADY_CURRENT = "already_current"
    UNREADABLE = "unreadable"


def rotate_entry(
    cipher: VaultCipher,
    from_hash: str,
    seen: Ciphertext | None,
    read: Callable[[], Ciphertext | None],
    replace: Callable[[Ciphertext, Ciphertext], bool],
) -> Outcome:
    """Move one entry to the newest key. `seen` is what was read; `replace(old, new)`
    writes `new` only if the entry still holds `old`, and says whether it did."""
    for _ in range(ATTEMPTS):
        if seen is None or cipher.is_current(seen):
            return Outcome.ALREADY_CURRENT
        try:
            fresh = cipher.reencrypt(from_hash, seen)
        except SealBroken as error:
            log.warning(
                "vault entry unreadable, left as it is", from_hash=from_hash, error=str(error)
            )
            return Outcome.UNREADABLE
        if replace(seen, fresh):
            return Outcome.REENCRYPTED
        seen = read()
    raise RotationContended(
        f"vault entry {from_hash} was rewritten under an old key {ATTEMPTS} times while "
        "being rotated: is a process still running without the newest PII_ENCRYPTION_KEYS?"
    )


class Tally:
    """Counts outcomes and reports progress as (done, total)."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self._total = total
        self._progress = progress
        self._counts = dict.fromkeys(Outcome, 0)

    def count(self, outcome: Outcome) -> None:
        self._counts[outcome] += 1
        done = sum(self._counts.values())
        self._total = max(self._total, done)  # entries remembered since we counted
        if self._progress is not None:
            self._progress(done, self._total)

    def report(self) -> RotationReport:
        return RotationReport(
            total=sum(self._counts.values()),
            reencrypted=self._counts[Outcome.REENCRYPTED],
            already_current=self._counts[Outcome.ALREADY_CURRENT],
            unreadable=self._counts[Outcome.UNREADABLE],
        )
