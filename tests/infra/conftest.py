"""One synth of the dev stack per test session, into a temporary cloud assembly (with its staged assets), after
the Lambda layer is built from pyproject's `lambda` extra (cached under build/: a no-op when up to date)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.packaging import build_dependencies
from tests.infra.assembly import Assembly, synth


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assembly]:
    build_dependencies()
    yield synth(tmp_path_factory.mktemp("cdk.out"))
