"""The benchmark runs end to end on the embedded systems and prints the JSON that other
tools read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.emulators import Emulators

BENCH = Path(__file__).resolve().parents[2] / "bench" / "eventstore.py"
SYSTEMS = {"switchboard-sqlite", "eventsourcing-sqlite", "sqlite3"}
CASES = {"a", "b", "c", "read", "a8"}


def test_bench_prints_one_result_per_system_and_case(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "FIRESTORE_EMULATOR_HOST"}
    finished = subprocess.run(
        [sys.executable, str(BENCH), "--events", "200", "--json", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )

    results = json.loads(finished.stdout)["results"]

    assert {(r["system"], r["case"]) for r in results} == {(s, c) for s in SYSTEMS for c in CASES}
    assert len(results) == len(SYSTEMS) * len(CASES)
    for result in results:
        assert set(result) == {"system", "case", "events_per_s"}
        assert isinstance(result["events_per_s"], float)
        assert result["events_per_s"] > 0


PIPELINE = BENCH.parent / "pipeline.py"
PIPELINE_FIELDS = {
    "backend", "debounce_ms", "conversations", "messages", "claimed", "failed",
    "messages_per_s", "p50_ms", "p99_ms", "max_ms", "seconds", "sent", "sent_during_load",
    "drain_s", "sent_per_s", "server_cpu_percent", "server_cpu_ms_per_message",
    "client_cpu_percent", "machine_cpu_percent",
}  # fmt: skip


def test_pipeline_bench_sees_a_claimed_reply_to_every_message(tmp_path: Path) -> None:
    emulators = ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST")
    env = {key: value for key, value in os.environ.items() if key not in emulators}
    finished = subprocess.run(
        [sys.executable, str(PIPELINE), "--messages", "12", "--conversations", "4",
         "--timeout", "30", "--json", "--dir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )  # fmt: skip

    (result,) = json.loads(finished.stdout)["results"]

    assert set(result) == PIPELINE_FIELDS
    assert (result["backend"], result["debounce_ms"]) == ("embedded", 0)
    assert (result["claimed"], result["failed"]) == (12, 0)
    assert result["sent"] == result["messages"] == 12  # and the sender sent every reply
    assert result["messages_per_s"] > 0
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]


REPLAY = BENCH.parent / "replay.py"


def test_replay_bench_rebuilds_every_generated_event(tmp_path: Path) -> None:
    emulators = ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST")
    env = {key: value for key, value in os.environ.items() if key not in emulators}
    finished = subprocess.run(
        [sys.executable, str(REPLAY), "--events", "800", "--json", "--dir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )  # fmt: skip

    results = json.loads(finished.stdout)["results"]

    assert [(r["backend"], r["events"] >= n) for r, n in zip(results, (200, 800), strict=True)] == [
        ("embedded", True),
        ("embedded", True),
    ]
    for result in results:
        assert set(result) == {"backend", "events", "events_per_s", "peak_rss_mb", "seconds"}
        assert result["events_per_s"] > 0
        assert result["peak_rss_mb"] > 0


INGRESS = BENCH.parent / "ingress.py"
INGRESS_FIELDS = {
    "backend", "concurrency", "requests", "requests_per_s", "p50_ms", "p99_ms", "max_ms",
    "failed", "server_cpu_percent", "client_cpu_percent",
}  # fmt: skip


def test_ingress_bench_runs_on_embedded(tmp_path: Path) -> None:
    emulators = ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST")
    env = {key: value for key, value in os.environ.items() if key not in emulators}
    _ingress_smoke(env, tmp_path, {"embedded"})


@pytest.mark.gcp
def test_ingress_bench_runs_on_gcp_without_whatsapp_credentials(
    emulators: Emulators, tmp_path: Path
) -> None:
    """`switchboard ingress` sends nothing, so it needs no Graph API token."""
    env = {key: value for key, value in os.environ.items() if key != "WHATSAPP_ACCESS_TOKEN"}
    _ingress_smoke({**env, **emulators.env()}, tmp_path, {"embedded", "gcp"})


def _ingress_smoke(env: dict[str, str], tmp_path: Path, backends: set[str]) -> None:
    finished = subprocess.run(
        [sys.executable, str(INGRESS), "--requests", "20", "--gcp-requests", "10",
         "--concurrency", "1,4", "--json", "--dir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=180, check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr[-2000:]

    results = json.loads(finished.stdout)["results"]

    assert {(r["backend"], r["concurrency"]) for r in results} == {
        (b, c) for b in backends for c in (1, 4)
    }
    for result in results:
        assert set(result) == INGRESS_FIELDS
        assert result["failed"] == 0
        assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
