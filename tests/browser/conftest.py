"""What the browser tests share: Debian's chromium (installed with apt when missing,
never downloaded by Playwright), a real `switchboard serve` on the embedded back end,
and the `switchboard` CLI against its data directory."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.emulators import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _chromium() -> Path:
    """The system chromium; apt installs it when missing (CI runs as root). Without
    it the browser tests skip, except under CI=true, where they must fail."""
    if not CHROMIUM.exists() and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "chromium"]
        if subprocess.run(install, env=env, capture_output=True, timeout=900).returncode:
            # a fresh machine may have no package lists yet
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=900)
            subprocess.run(install, env=env, capture_output=True, timeout=900)
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(
                "CI=true and /usr/bin/chromium could not be installed (apt-get install chromium)"
            )
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=str(_chromium()), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@dataclass
class Served:
    """A `switchboard serve` process on a fixed port and data directory."""

    base_url: str
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return {**os.environ, "SWITCHBOARD_DATA_DIR": str(self.data_dir),
                "SWITCHBOARD_BACKEND": "embedded", "COLUMNS": "200"}  # fmt: skip

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "app.cli", *args], env=self.env(),
                              capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
        return done.stdout.strip()

    def add_operator(self, name: str, role: str = "operator") -> str:
        return self.cli("operators", "add", name, "--role", role).splitlines()[-1]

    def customer_writes(self, phone: str, text: str) -> None:
        self.cli("simulate", "--from", phone, "--text", text, "--url", self.base_url,
                 "--wait", "0")  # fmt: skip

    def start(self) -> None:
        env = {**self.env(), "REPLY_DEBOUNCE_MS": "0"}
        with (self.data_dir / "serve.log").open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, (self.data_dir / "serve.log").read_text()
            assert time.monotonic() < deadline, "serve did not come up"
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`switchboard serve` as a newcomer runs it, one per test module."""
    port = free_port()
    served = Served(f"http://127.0.0.1:{port}", tmp_path_factory.mktemp("console"), port)
    served.start()
    yield served
    served.stop()
