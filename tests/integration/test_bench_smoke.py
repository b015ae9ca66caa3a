"""The benchmark runs end to end on the embedded systems and prints the JSON that other
tools read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
