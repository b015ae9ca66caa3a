"""The `OperatorDirectory` port: operators and their bearer tokens.

A token is shown once, when the operator is added; only its SHA-256 is stored. Tokens
are 256 random bits, so a fast hash is enough: there is nothing to brute-force.

The console signs an operator in with their token once and then holds a session (a
cookie). A session belongs to the token that opened it, not to the name: revoking the
operator, or re-adding the name with a new token, ends it at once. Session ids are 256
random bits too and are stored only as their SHA-256, with the digest of their token,
the operator's name, and when the session was opened and last used. The directory
holds sessions, not a separate store, so that the ingress stays stateless across
processes on every back end.

Every adapter passes `tests/contract/test_operators.py` unchanged.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from contracts.operators import Operator, Role


class OperatorExists(ValueError):
    """An active operator already has that name."""


class UnknownOperator(LookupError):
    """No active operator has that name."""


class OperatorDirectory(Protocol):
    def add(self, name: str, role: Role) -> str:
        """Create the operator and return their new token (the only time it is seen)."""
        ...

    def authenticate(self, token: str) -> Operator | None:
        """The active operator holding `token`, or None."""
        ...

    def list(self) -> list[Operator]:
        """Every operator, revoked ones included, by name."""
        ...

    def revoke(self, name: str) -> Operator:
        """Revoke the operator's token; raises `UnknownOperator`."""
        ...

    def open_session(self, token: str, now: datetime) -> str | None:
        """A new console session for the active operator holding `token`: its id (the
        only time it is seen), or None when the token opens nothing."""
        ...

    def session(
        self, session_id: str, now: datetime, idle: timedelta, touch: bool = True
    ) -> Operator | None:
        """The active operator of the session, or None when there is no such session,
        its token was revoked, or it was last used more than `idle` before `now` (such
        a session is deleted). With `touch`, `now` becomes its last use."""
        ...

    def close_session(self, session_id: str) -> None:
        """Delete the session; closing an unknown one does nothing."""
        ...
