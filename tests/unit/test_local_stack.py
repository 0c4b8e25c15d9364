"""How `framelane local` sets the outbound policy and sizes its worker pool (no processes started)."""

import pytest

from framelane.local import stack
from framelane.local.stack import default_workers, outbound_environment

OWN = ["127.0.0.1:6379", "127.0.0.1:5000", "127.0.0.1:8080"]


def test_without_operator_settings_tasks_may_fetch_from_loopback_but_not_the_stacks_ports() -> None:
    env = outbound_environment({}, OWN)
    assert env == {"FRAMELANE_ALLOWED_NETWORKS": "127.0.0.0/8", "FRAMELANE_DENIED_ENDPOINTS": ",".join(OWN)}


def test_the_operators_policy_and_networks_are_kept_and_their_denials_extended() -> None:
    operator = {
        "FRAMELANE_OUTBOUND_POLICY": "allowlist",
        "FRAMELANE_ALLOWED_NETWORKS": "127.0.0.1/32,10.0.0.0/8",
        "FRAMELANE_DENIED_ENDPOINTS": "10.0.0.9:443",
    }
    env = outbound_environment(operator, OWN)
    assert "FRAMELANE_ALLOWED_NETWORKS" not in env and "FRAMELANE_OUTBOUND_POLICY" not in env
    assert env["FRAMELANE_DENIED_ENDPOINTS"] == ",".join(["10.0.0.9:443", *OWN])
    assert "FRAMELANE_ALLOWED_NETWORKS" not in outbound_environment(
        {"FRAMELANE_OUTBOUND_POLICY": "public"}, OWN
    )


def test_default_workers_is_half_the_cores_and_at_least_one(monkeypatch: pytest.MonkeyPatch) -> None:
    for cores, expected in ((None, 1), (1, 1), (2, 1), (8, 4)):
        monkeypatch.setattr(stack.os, "cpu_count", lambda cores=cores: cores)
        assert default_workers() == expected
