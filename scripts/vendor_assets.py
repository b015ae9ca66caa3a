"""Refresh the console's vendored front-end libraries from the npm registry.

Each package is fetched at an exact version with `npm pack` (the registry's own
client; no CDN), the files the console needs are taken out of the tarball with the
package's license, and `vendor.json` beside them records name, version and the
tarball's integrity and sha1 as the registry published them. Run from the repository
root after changing a version below, then commit what it wrote:

    python scripts/vendor_assets.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = ROOT / "ingress" / "console" / "static" / "vendor"
TESTS = ROOT / "tests" / "browser" / "vendor"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    files: tuple[str, ...]
    """Paths inside the tarball's `package/` folder; each is written under its base name."""
    into: Path


PACKAGES = (
    Package("htmx.org", "2.0.11", ("dist/htmx.min.js", "LICENSE"), CONSOLE / "htmx"),
    Package("htmx-ext-sse", "2.2.4", ("dist/sse.min.js", "LICENSE"), CONSOLE / "htmx-ext-sse"),
    Package(
        "uplot",
        "1.6.32",
        ("dist/uPlot.iife.min.js", "dist/uPlot.min.css", "LICENSE"),
        CONSOLE / "uplot",
    ),
    # For the accessibility checks of the browser tests only; never served.
    Package(
        "axe-core",
        "4.14.1",
        ("axe.min.js", "LICENSE", "LICENSE-3RD-PARTY.txt"),
        TESTS / "axe-core",
    ),
)


def pack(package: Package, work: Path) -> dict[str, str]:
    """Download the package's tarball into `work`; what the registry says of it."""
    done = subprocess.run(
        ["npm", "pack", f"{package.name}@{package.version}", "--json", "--silent"],
        cwd=work,
        check=True,
        capture_output=True,
        text=True,
    )
    (info,) = json.loads(done.stdout)
    if info["version"] != package.version:
        raise SystemExit(f"{package.name}: asked for {package.version}, got {info['version']}")
    return {key: info[key] for key in ("name", "version", "filename", "integrity", "shasum")}


def extract(package: Package, tarball: Path) -> list[str]:
    if package.into.exists():
        shutil.rmtree(package.into)
    package.into.mkdir(parents=True)
    written = []
    with tarfile.open(tarball) as archive:
        for inner in package.files:
            member = archive.extractfile(f"package/{inner}")
            if member is None:
                raise SystemExit(f"{package.name}: {inner} is not a file in the tarball")
            target = package.into / Path(inner).name
            target.write_bytes(member.read())
            written.append(target.name)
    return written


def main() -> None:
    if shutil.which("npm") is None:
        sys.exit("npm is needed to fetch the packages (apt-get install npm)")
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        for package in PACKAGES:
            info = pack(package, work)
            files = extract(package, work / info.pop("filename"))
            manifest = {**info, "files": files}
            (package.into / "vendor.json").write_text(json.dumps(manifest, indent=2) + "\n")
            print(f"{package.name}@{package.version} -> {package.into.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
