"""Start and stop the Google Pub/Sub and Firestore emulators on free ports.

Used by the test fixtures and, through `scripts/emulators.sh`, by humans:

    python -m tests.emulators start   # prints `export ...` lines, keeps a pid file
    python -m tests.emulators stop
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

STATE_FILE = Path(os.environ.get("SWITCHBOARD_DATA_DIR", "var")) / "emulators.json"


class EmulatorUnavailable(RuntimeError):
    """gcloud is missing, or an emulator did not answer in time."""


@dataclass(frozen=True)
class Emulators:
    pubsub_host: str
    firestore_host: str
    pids: tuple[int, ...]

    def env(self) -> dict[str, str]:
        return {
            "PUBSUB_EMULATOR_HOST": self.pubsub_host,
            "FIRESTORE_EMULATOR_HOST": self.firestore_host,
        }

    def reset_firestore(self, project: str) -> None:
        """Delete every document of `project` (the emulator's own endpoint)."""
        url = (
            f"http://{self.firestore_host}/emulator/v1/projects/{project}"
            "/databases/(default)/documents"
        )
        request = urllib.request.Request(url, method="DELETE")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def stop(self) -> None:
        for pid in self.pids:
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + 3  # they keep nothing we need; don't wait long
        for pid in self.pids:
            while time.monotonic() < deadline and _group_alive(pid):
                time.sleep(0.1)
            if _group_alive(pid):
                os.killpg(pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: every socket stays bound until all are chosen."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


_WATCHDOG = """
import os, signal, sys, time
parent, groups = int(sys.argv[1]), [int(g) for g in sys.argv[2:]]
def alive(pid, kill=os.kill):
    try:
        kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
while alive(parent) and any(alive(g, os.killpg) for g in groups):
    time.sleep(1)
for sig in (signal.SIGTERM, signal.SIGKILL):
    for group in groups:
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            pass
    time.sleep(3)
"""


def _watch(groups: tuple[int, ...]) -> None:
    """Stop the emulators when this process dies, however it dies (a killed pytest
    must not leave two JVMs behind)."""
    subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), *map(str, groups)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def _wait_until_up(host: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorUnavailable(f"emulator exited early; see {log}")
        try:
            with urllib.request.urlopen(f"http://{host}/", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise EmulatorUnavailable(f"emulator at {host} did not answer within 60 s; see {log}")


def start(log_dir: Path, *, outlive_caller: bool = False) -> Emulators:
    """Start both emulators. They stop with the calling process unless
    `outlive_caller` (the `scripts/emulators.sh start` case)."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise EmulatorUnavailable("gcloud is not on PATH; install the Google Cloud SDK")
    log_dir.mkdir(parents=True, exist_ok=True)
    pubsub_port, firestore_port = free_ports(2)
    pubsub_host, firestore_host = f"127.0.0.1:{pubsub_port}", f"127.0.0.1:{firestore_port}"
    commands = {
        "pubsub": [
            gcloud,
            "beta",
            "emulators",
            "pubsub",
            "start",
            f"--host-port={pubsub_host}",
            "--project=switchboard-test",
        ],
        "firestore": [gcloud, "emulators", "firestore", "start", f"--host-port={firestore_host}"],
    }
    processes: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    for name, command in commands.items():
        log = log_dir / f"{name}-emulator.log"
        with log.open("wb") as out:
            processes[name] = (
                subprocess.Popen(
                    command,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                ),
                log,
            )
    emulators = Emulators(pubsub_host, firestore_host, tuple(p.pid for p, _ in processes.values()))
    if not outlive_caller:
        _watch(emulators.pids)
    try:
        for (process, log), host in zip(
            processes.values(), (pubsub_host, firestore_host), strict=True
        ):
            _wait_until_up(host, process, log)
    except BaseException:
        emulators.stop()
        raise
    return emulators


def main(argv: list[str]) -> int:
    if argv[1:] == ["start"]:
        if STATE_FILE.exists():
            print(f"emulators already started ({STATE_FILE}); run stop first", file=sys.stderr)
            return 1
        emulators = start(STATE_FILE.parent, outlive_caller=True)
        STATE_FILE.write_text(json.dumps({**emulators.env(), "pids": emulators.pids}))
        for key, value in emulators.env().items():
            print(f"export {key}={value}")
        return 0
    if argv[1:] == ["stop"]:
        if not STATE_FILE.exists():
            print("no emulators recorded as started", file=sys.stderr)
            return 0
        state = json.loads(STATE_FILE.read_text())
        Emulators(
            state["PUBSUB_EMULATOR_HOST"], state["FIRESTORE_EMULATOR_HOST"], tuple(state["pids"])
        ).stop()
        STATE_FILE.unlink()
        print("emulators stopped")
        return 0
    print("usage: emulators.sh start|stop", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
