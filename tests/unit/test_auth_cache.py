"""API keys are remembered for `auth_cache_seconds` per process; a revoke through this process forgets at once."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from framelane.errors import Unauthorized
from framelane.models import ApiKeyRecord, Workspace, utc_now
from framelane.services import workspaces
from framelane.services.workspaces import authenticate, hash_api_key, revoke_api_key

KEY = "fl_" + "k" * 40


class CountingStore:
    table_name = "auth-cache-test"

    def __init__(self) -> None:
        self.reads = 0
        self.keys = {
            hash_api_key(KEY): ApiKeyRecord(
                key_hash=hash_api_key(KEY), workspace_id="ws_1", prefix="fl_kkkk", created_at=utc_now()
            )
        }

    def get_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        self.reads += 1
        return self.keys.get(key_hash)

    def get_workspace(self, workspace_id: str) -> Workspace:
        return Workspace(id=workspace_id, name="w", created_at=utc_now(), signing_secret="whsec_x")

    def delete_api_key(self, key_hash: str) -> bool:
        return self.keys.pop(key_hash, None) is not None


def _ctx(store: CountingStore, seconds: float) -> Any:
    return SimpleNamespace(store=store, settings=SimpleNamespace(auth_cache_seconds=seconds))


@pytest.fixture(autouse=True)
def _forget() -> None:
    workspaces._recent_keys.clear()


def test_a_key_is_read_once_within_the_cache_time_and_again_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(workspaces.time, "monotonic", lambda: clock[0])
    store = CountingStore()
    for _ in range(3):
        assert authenticate(_ctx(store, 5), KEY).id == "ws_1"
    assert store.reads == 1
    clock[0] += 5.1
    authenticate(_ctx(store, 5), KEY)
    assert store.reads == 2


def test_revoking_forgets_the_key_at_once_and_zero_seconds_never_remembers() -> None:
    store = CountingStore()
    authenticate(_ctx(store, 60), KEY)
    revoke_api_key(_ctx(store, 60), KEY)
    with pytest.raises(Unauthorized):
        authenticate(_ctx(store, 60), KEY)
    store = CountingStore()
    authenticate(_ctx(store, 0), KEY)
    authenticate(_ctx(store, 0), KEY)
    assert store.reads == 2
