"""Every test run uses the strict outbound policy: only 127.0.0.1 may ever be fetched."""

import os
from pathlib import Path

import pytest

os.environ["FRAMELANE_OUTBOUND_POLICY"] = "allowlist"
os.environ["FRAMELANE_ALLOWED_NETWORKS"] = "127.0.0.1/32"
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "FramelaneTests")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test outside tests/unit as `integration`, so `pytest -m "not integration"` is the fast set."""
    fast = Path(__file__).parent / "unit"
    for item in items:
        if not item.path.is_relative_to(fast):
            item.add_marker(pytest.mark.integration)
