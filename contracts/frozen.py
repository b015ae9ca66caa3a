"""The base of every contract model that is not an event payload."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Immutable and strict about its keys: a typo in a field name is an error, not a
    silently ignored value. Attribute docstrings become field descriptions (OpenAPI)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)
