"""The embedded back end's data directory is private to the user who runs Switchboard.

It holds conversations, sealed identities, operator token hashes and (in development)
the secrets that open them: the directory is created `0700` and every file in it
`0600`, whatever the umask. SQLite gives the `-wal` and `-shm` files it creates the
mode of the database file, so creating that file `0600` first covers them too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_directory(path: Path) -> None:
    """Create `path` (and missing parents) with mode `0700` for the one it names. An
    existing directory is left as it is: `too_open` reports it."""
    if path.is_dir():
        return
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    path.chmod(DIRECTORY_MODE)  # mkdir's mode is filtered by the umask


def private_file(path: Path) -> None:
    """Create `path`, empty, with mode `0600` unless it exists; its directory too."""
    private_directory(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(descriptor)


def too_open(directory: Path) -> list[tuple[Path, int]]:
    """The directory and the files in it that others than the owner may use, with their
    modes: what `chmod 700` / `chmod 600` would fix."""
    if not directory.is_dir():
        return []
    found = []
    mode = stat.S_IMODE(directory.stat().st_mode)
    if mode & 0o077:
        found.append((directory, mode))
    for entry in sorted(directory.iterdir()):
        if entry.is_file():
            mode = stat.S_IMODE(entry.stat().st_mode)
            if mode & 0o077:
                found.append((entry, mode))
    return found
