"""Errors of the operator API's application functions; routes map them to statuses."""

from __future__ import annotations


class Forbidden(Exception):
    """The operator's role does not allow this (403)."""


class NotFound(LookupError):
    """No such command, lead... (404)."""


class Conflicting(Exception):
    """The request contradicts what is already recorded (409)."""


class Gone(Exception):
    """It existed but was erased, e.g. a forgotten contact's number (410)."""
