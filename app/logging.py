"""structlog set-up: JSON in production, readable in development, and a last line of
defence that masks anything shaped like a phone number before it is written."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO, cast

import structlog

from app.settings import LogFormat

_PHONE_LIKE = re.compile(r"(?<![\w.:-])\+?\d(?:[ ().-]{0,2}\d){9,14}(?![\w.:-])")


def mask_phone_numbers(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if isinstance(value, str) and _PHONE_LIKE.search(value):
            event_dict[key] = _PHONE_LIKE.sub("[phone]", value)
    return event_dict


class _CurrentStderr:
    """Whatever `sys.stderr` is at the moment of writing: test runners and embedders
    swap it, and a logger bound to a closed stream would fail every later request."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(log_format: LogFormat, level: int = logging.INFO) -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if log_format is LogFormat.JSON
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            mask_phone_numbers,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(cast(TextIO, _CurrentStderr())),
        cache_logger_on_first_use=True,
    )
