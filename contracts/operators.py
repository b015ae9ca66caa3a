"""Operators: the humans who act through the API, and what each may do."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from contracts.frozen import Frozen


class Role(StrEnum):
    OPERATOR = "operator"
    ADMIN = "admin"
    """May also pause and resume every bot reply, forget a contact, reveal a number."""


class Operator(Frozen):
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN
