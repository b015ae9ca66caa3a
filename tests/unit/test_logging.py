"""Phone numbers never reach a log line in clear, whatever a caller passes."""

from __future__ import annotations

import pytest

from app.logging import mask_phone_numbers


@pytest.mark.parametrize(
    "text",
    [
        "+5511999990001",
        "5511999990001",
        "+55 (11) 99999-0001",
        "call 11 99999 0001 now",
    ],
)
def test_phone_shaped_values_are_masked(text: str) -> None:
    masked = mask_phone_numbers(None, "info", {"value": text})["value"]

    assert "9999" not in masked
    assert "[phone]" in masked


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-25T03:55:07.123456+00:00",
        "6f1c2a9e-53a4-4c55-9d4e-2f7b1e0c8a31",
        "session-20261125",
        "version 12",
    ],
)
def test_timestamps_ids_and_small_numbers_are_left_alone(text: str) -> None:
    assert mask_phone_numbers(None, "info", {"value": text})["value"] == text


def test_logs_follow_stderr_when_it_is_swapped(capsys: pytest.CaptureFixture[str]) -> None:
    import io
    import sys

    import structlog

    from app.logging import configure_logging
    from app.settings import LogFormat

    swapped, sys.stderr = sys.stderr, io.StringIO()  # as CliRunner does
    configure_logging(LogFormat.JSON)
    structlog.get_logger("t").info("first")
    sys.stderr.close()
    sys.stderr = swapped

    structlog.get_logger("t").info("second")  # the closed stream must not be used

    assert '"event": "second"' in capsys.readouterr().err
