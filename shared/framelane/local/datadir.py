"""The local stack's data directory: what `framelane local` keeps between runs, with a format version and a lock.

Layout (format 1):
    FORMAT          {"format": "framelane-local", "version": 1}: written first, checked before anything else
    secrets.json    the operator token, the cursor key and the dev workspace's key (owner-only)
    aws/            moto's journal and object files (local/journal.py)
    redis/          Redis's append-only file (the render streams)
    lock            held by the running stack, so two stacks never share a directory
A directory that is neither empty nor carries a FORMAT of ours is never written to: it may be someone else's.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT_NAME = "framelane-local"
FORMAT_VERSION = 1
FORMAT_FILE = "FORMAT"
_ARCHIVE_ROOT = "framelane-data"


class DataDirError(RuntimeError):
    """The data directory cannot be used as it is; the message says why and what to do."""


def framelane_home() -> Path:
    return Path(os.environ.get("FRAMELANE_HOME", Path.home() / ".framelane"))


def default_data_dir() -> Path:
    return framelane_home() / "data"


@dataclass(frozen=True)
class DataDir:
    path: Path

    @property
    def aws(self) -> Path:
        return self.path / "aws"

    @property
    def redis(self) -> Path:
        return self.path / "redis"

    def secrets(self) -> dict[str, str]:
        """The stack's own secrets, made on first use and the same on every later start."""
        path = self.path / "secrets.json"
        try:
            values: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        except ValueError as exc:
            raise DataDirError(f"{path} is damaged ({exc}); restore the directory from an export") from exc
        if "admin_token" not in values or "cursor_secret" not in values:
            values = {
                "admin_token": secrets.token_urlsafe(24),
                "cursor_secret": secrets.token_urlsafe(32),
                **values,
            }
            self.save_secrets(values)
        return values

    def save_secrets(self, values: dict[str, str]) -> None:
        _write_private(self.path / "secrets.json", json.dumps(values))


def check_format(path: Path) -> dict[str, Any]:
    """The directory's FORMAT, if it is a data directory this Framelane can open; DataDirError otherwise."""
    marker = path / FORMAT_FILE
    if not marker.exists():
        raise DataDirError(
            f"{path} is not empty and is not a Framelane data directory (no {FORMAT_FILE} file); it is left "
            "untouched. Pass --data-dir with an empty directory, or the one `framelane local` made."
        )
    try:
        described: Any = json.loads(marker.read_text())
        version = int(described["version"]) if described.get("format") == FORMAT_NAME else None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise DataDirError(f"{marker} is damaged ({exc!r}); restore the directory from an export") from exc
    if version is None:
        raise DataDirError(
            f"{path} holds another program's data ({marker} is not Framelane's); left untouched"
        )
    if version > FORMAT_VERSION:
        raise DataDirError(
            f"{path} was written by a newer Framelane (data format {version}; this one reads up to "
            f"{FORMAT_VERSION}). Upgrade Framelane, or start this one with another --data-dir."
        )
    if version < FORMAT_VERSION:  # no older format exists yet: format 1 is the first
        raise DataDirError(f"{path} has data format {version}, which this Framelane cannot upgrade")
    return dict(described)


def prepare(path: Path) -> DataDir:
    """Open `path` as a data directory, making it (and its FORMAT) when it is missing or empty."""
    if path.exists() and not path.is_dir():
        raise DataDirError(f"{path} is a file, not a directory")
    if not path.exists() or not any(path.iterdir()):
        path.mkdir(parents=True, exist_ok=True)
        _write_private(path / FORMAT_FILE, json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION}))
    check_format(path)
    return DataDir(path)


@contextlib.contextmanager
def locked(data: DataDir) -> Iterator[None]:
    """Held while a stack runs on the directory (and while it is exported): a second one is refused."""
    with (data.path / "lock").open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise DataDirError(
                f"{data.path} is in use by a running `framelane local`; stop it first (or use another --data-dir)"
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def ephemeral() -> Iterator[DataDir]:
    """A throwaway data directory, removed when the stack stops (tests; today's in-memory behaviour)."""
    path = Path(tempfile.mkdtemp(prefix="framelane-ephemeral-"))
    try:
        yield prepare(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def export_archive(path: Path, archive: Path) -> int:
    """A .tar.gz of a stopped stack's data directory; returns the bytes written."""
    if not path.is_dir():
        raise DataDirError(f"{path} does not exist: nothing to export (pass --data-dir)")
    check_format(path)
    data = DataDir(path)
    with locked(data), tarfile.open(archive, "w:gz") as out:
        for entry in sorted(path.iterdir()):
            if entry.name != "lock":
                out.add(entry, arcname=f"{_ARCHIVE_ROOT}/{entry.name}")
    return archive.stat().st_size


def import_archive(archive: Path, path: Path) -> None:
    """Restore an export into `path`, which must be missing or empty (nothing is ever overwritten)."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise DataDirError(f"{path} is not empty: import into a new directory (nothing is overwritten)")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".framelane-import-", dir=path.parent))
    try:
        try:
            with tarfile.open(archive, "r:*") as source:
                source.extractall(staging, filter="data")
        except (OSError, tarfile.TarError) as exc:
            raise DataDirError(f"{archive} is not a Framelane export ({exc})") from exc
        restored = staging / _ARCHIVE_ROOT
        if not restored.is_dir():
            raise DataDirError(f"{archive} is not a Framelane export (no {_ARCHIVE_ROOT}/ inside)")
        check_format(restored)
        if path.exists():
            path.rmdir()
        restored.rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_private(path: Path, text: str) -> None:
    """Atomically, readable by the owner only."""
    partial = path.with_suffix(".tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
