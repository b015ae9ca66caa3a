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
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from adapters.crypto.hashing import generate_hash_key
from tests.backends import VAULT_KEYS
from tests.emulators import Emulators, free_port
from tests.fake_graph import fake_graph

CHROMIUM = Path("/usr/bin/chromium")
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
PNG = b"\x89PNG\r\n\x1a\n"
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


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(viewport={"width": 1200, "height": 800})
    yield opened
    opened.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@dataclass
class Served:
    """A `switchboard serve` process on a fixed port and data directory."""

    base_url: str
    data_dir: Path
    port: int
    backend: dict[str, str]
    """The settings naming the back end (and on gcp its secrets)."""
    process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return {**os.environ, "SWITCHBOARD_DATA_DIR": str(self.data_dir), "COLUMNS": "200",
                **self.backend}  # fmt: skip

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "app.cli", *args], env=self.env(),
                              capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
        return done.stdout.strip()

    def add_operator(self, name: str, role: str = "operator") -> str:
        return self.cli("operators", "add", name, "--role", role).splitlines()[-1]

    def customer_writes(self, phone: str, text: str, name: str = "Ana Lima") -> None:
        self.cli("simulate", "--from", phone, "--text", text, "--name", name,
                 "--url", self.base_url, "--wait", "0")  # fmt: skip

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


@pytest.fixture(scope="module", params=["embedded", pytest.param("gcp", marks=pytest.mark.gcp)])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """`switchboard serve` as a newcomer runs it (embedded), or on the emulators with
    a fake WhatsApp Graph API; one per test module and back end."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("console")
    with ExitStack() as stack:
        backend = {"SWITCHBOARD_BACKEND": "embedded"}
        if request.param == "gcp":
            emulators: Emulators = request.getfixturevalue("emulators")
            graph = stack.enter_context(fake_graph())
            backend = {
                **emulators.env(), "SWITCHBOARD_BACKEND": "gcp",
                "GCP_PROJECT": f"console-{uuid.uuid4().hex[:8]}",  # nothing left by others
                "PII_HASH_KEY": generate_hash_key(), "PII_ENCRYPTION_KEYS": VAULT_KEYS,
                "WHATSAPP_VERIFY_TOKEN": "verify", "WHATSAPP_APP_SECRET": "console-secret",
                "WHATSAPP_ACCESS_TOKEN": "graph-token", "WHATSAPP_API_BASE": graph.base_url,
                "WHATSAPP_PHONE_NUMBER_ID": "1234567890",
            }  # fmt: skip
        served = Served(f"http://127.0.0.1:{port}", data_dir, port, backend)
        served.start()
        yield served
        served.stop()


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[[Page, str], Path]:
    """Saves a full-page screenshot as `name`: into docs/img only when
    UPDATE_SCREENSHOTS=1 (`make screenshots`), else into the test's own directory, so
    a test run leaves the checkout as it was."""
    folder = DOCS_IMG if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path

    def save(page: Page, name: str) -> Path:
        path = folder / name
        page.screenshot(path=str(path), full_page=True)
        assert path.read_bytes().startswith(PNG), path
        assert path.stat().st_size > 1000, path
        return path

    return save
