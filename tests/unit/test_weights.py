"""weights.file_sha256 (hashlib.file_digest) agrees with hashing the bytes, on a file larger than one block."""

from __future__ import annotations

import hashlib
from pathlib import Path

from framelane.weights import file_sha256


def test_file_sha256_matches_the_bytes(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # 1.28 MB
    path = tmp_path / "weights.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert file_sha256(str(path)) == file_sha256(path)
