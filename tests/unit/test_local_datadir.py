"""The local stack's data directory: made once, the same secrets every start, one stack at a time, and exports that
restore only into an empty directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from framelane.local import datadir
from framelane.local.datadir import DataDirError


def test_a_new_directory_gets_a_format_and_keeps_its_secrets(tmp_path: Path) -> None:
    data = datadir.prepare(tmp_path / "data")
    assert json.loads((data.path / "FORMAT").read_text()) == {"format": "framelane-local", "version": 1}
    first = data.secrets()
    assert datadir.prepare(data.path).secrets() == first
    assert (data.path / "secrets.json").stat().st_mode & 0o777 == 0o600


def test_one_stack_per_directory(tmp_path: Path) -> None:
    data = datadir.prepare(tmp_path / "data")
    with datadir.locked(data), pytest.raises(DataDirError, match="in use by a running"), datadir.locked(data):
        pass
    with datadir.locked(data):  # released when the first one stopped
        pass


def test_export_restores_only_into_an_empty_directory(tmp_path: Path) -> None:
    data = datadir.prepare(tmp_path / "data")
    (data.path / "aws").mkdir()
    (data.path / "aws" / "journal.jsonl").write_text('{"t": "s3bucket", "bucket": "b"}\n')
    archive = tmp_path / "backup.tgz"
    datadir.export_archive(data.path, archive)
    datadir.import_archive(archive, tmp_path / "restored")
    assert (
        tmp_path / "restored" / "aws" / "journal.jsonl"
    ).read_text() == '{"t": "s3bucket", "bucket": "b"}\n'
    with pytest.raises(DataDirError, match="is not empty"):
        datadir.import_archive(archive, tmp_path / "restored")
    (tmp_path / "junk.tgz").write_bytes(b"not an archive")
    with pytest.raises(DataDirError, match="is not a Framelane export"):
        datadir.import_archive(tmp_path / "junk.tgz", tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere").exists() or not any((tmp_path / "elsewhere").iterdir())
    with pytest.raises(DataDirError, match="does not exist"):
        datadir.export_archive(tmp_path / "missing", tmp_path / "x.tgz")
