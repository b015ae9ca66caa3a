"""The `OperatorDirectory` port: operators and their bearer tokens.

A token is shown once, when the operator is added; only its SHA-256 is stored. Tokens
are 256 random bits, so a fast hash is enough: there is nothing to brute-force.

Every adapter passes `tests/contract/test_operators.py` unchanged.
"""

from __future__ import annotations

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
