"""services.workspaces, services.webhooks and services.credentials over the in-memory stores: who a key opens,
what a workspace may register, and what the API shows of it."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest

from framelane.errors import InvalidCursor, InvalidRequest, NotFound, Unauthorized
from framelane.models import (
    ContentCredentials,
    ContentCredentialsReport,
    JobOutput,
    Task,
    TaskStatus,
    TaskType,
    WebhookAttempt,
    WebhookEndpointCreate,
    WebhookEvent,
    Workspace,
    utc_now,
)
from framelane.services import workspaces
from framelane.services.credentials import credentials_key, get_credentials, presign_credentials, sidecar_key
from framelane.services.webhooks import (
    MAX_ENDPOINTS_PER_WORKSPACE,
    create_endpoint,
    delete_endpoint,
    list_attempts,
    list_endpoints,
    signing_secret,
)
from framelane.services.workspaces import (
    authenticate,
    create_workspace,
    forget_workspace,
    hash_api_key,
    issue_api_key,
    revoke_api_key,
)
from tests.unit.fakes import fake_context, store

WS = Workspace(id="ws_1", name="one", created_at=utc_now(), signing_secret="whsec_c2VjcmV0")


@pytest.fixture(autouse=True)
def _forget_keys() -> None:
    workspaces._recent_keys.clear()


# workspaces and keys


def test_hash_is_the_hex_sha256_of_the_key() -> None:
    assert hash_api_key("fl_abc") == hashlib.sha256(b"fl_abc").hexdigest()


def test_a_new_workspace_stores_only_the_hash_of_its_key() -> None:
    ctx = fake_context()
    created = create_workspace(ctx, "studio")
    workspace = store(ctx).workspaces[created.workspace_id]
    assert workspace.name == "studio" and workspace.id.startswith("ws_")
    assert workspace.signing_secret.startswith("whsec_")
    assert created.api_key.startswith("fl_") and len(created.api_key) > 40
    (record,) = store(ctx).api_keys.values()
    assert (
        record.key_hash == hash_api_key(created.api_key) and created.api_key not in record.model_dump_json()
    )
    assert (record.workspace_id, record.prefix) == (workspace.id, created.api_key[:7])
    assert record.created_at == workspace.created_at
    assert authenticate(ctx, created.api_key).id == workspace.id


def test_a_further_key_opens_the_same_workspace_and_is_revoked_alone() -> None:
    ctx = fake_context(auth_cache_seconds=0)
    created = create_workspace(ctx, "studio")
    second = issue_api_key(ctx, created.workspace_id)
    assert second.workspace_id == created.workspace_id and second.api_key != created.api_key
    record = store(ctx).api_keys[hash_api_key(second.api_key)]
    assert (record.workspace_id, record.prefix) == (created.workspace_id, second.api_key[:7])
    assert authenticate(ctx, second.api_key).id == created.workspace_id
    revoke_api_key(ctx, second.api_key)
    with pytest.raises(Unauthorized):
        authenticate(ctx, second.api_key)
    assert authenticate(ctx, created.api_key).id == created.workspace_id
    with pytest.raises(NotFound, match=r"^no such API key$"):
        revoke_api_key(ctx, second.api_key)


def test_no_key_for_an_unknown_workspace() -> None:
    with pytest.raises(NotFound, match="ws_none"):
        issue_api_key(fake_context(), "ws_none")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "missing bearer API key"),
        ("", "missing bearer API key"),
        ("sk_" + "a" * 40, "invalid API key"),
        ("fl_" + "a" * 254, "invalid API key"),  # 257 characters
        ("fl_unknown", "invalid API key"),
    ],
)
def test_malformed_or_unknown_keys_are_refused(key: str | None, message: str) -> None:
    with pytest.raises(Unauthorized) as raised:
        authenticate(fake_context(), key)
    assert str(raised.value) == message


def test_the_longest_accepted_key_is_256_characters() -> None:
    ctx = fake_context()
    key = "fl_" + "a" * 253
    created = create_workspace(ctx, "w")
    record = store(ctx).api_keys.pop(hash_api_key(created.api_key))
    store(ctx).put_api_key(record.model_copy(update={"key_hash": hash_api_key(key)}))
    assert authenticate(ctx, key).id == created.workspace_id


def test_a_key_of_a_deleted_workspace_is_refused() -> None:
    ctx = fake_context()
    created = create_workspace(ctx, "w")
    del store(ctx).workspaces[created.workspace_id]
    with pytest.raises(Unauthorized):
        authenticate(ctx, created.api_key)


def test_with_caching_off_every_request_reads_the_store() -> None:
    ctx = fake_context(auth_cache_seconds=0)
    created = create_workspace(ctx, "w")
    authenticate(ctx, created.api_key)
    assert workspaces._recent_keys == {}
    del store(ctx).api_keys[hash_api_key(created.api_key)]
    with pytest.raises(Unauthorized):
        authenticate(ctx, created.api_key)


def test_cached_keys_are_per_table_and_forgotten_per_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workspaces.time, "monotonic", lambda: 100.0)
    ctx = fake_context(auth_cache_seconds=5)
    created = create_workspace(ctx, "w")
    other = create_workspace(ctx, "other")
    authenticate(ctx, created.api_key)
    authenticate(ctx, other.api_key)
    entry = workspaces._recent_keys[store(ctx).table_name, hash_api_key(created.api_key)]
    assert entry[0] == 105.0 and entry[1].id == created.workspace_id
    forget_workspace(created.workspace_id)
    assert [w.id for _, w in workspaces._recent_keys.values()] == [other.workspace_id]


def test_a_cached_key_expires_at_its_time_and_a_one_second_cache_still_caches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr(workspaces.time, "monotonic", lambda: clock[0])
    ctx = fake_context(auth_cache_seconds=1)
    created = create_workspace(ctx, "w")
    authenticate(ctx, created.api_key)
    del store(ctx).api_keys[hash_api_key(created.api_key)]
    clock[0] = 100.5
    assert authenticate(ctx, created.api_key).id == created.workspace_id  # from the cache, within its second
    clock[0] = 101.0
    with pytest.raises(Unauthorized):  # expired at 101.0 exactly: the store is asked and the key is gone
        authenticate(ctx, created.api_key)


def test_a_full_cache_is_cleared_before_adding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workspaces, "_RECENT_KEYS_MAX", 2)
    ctx = fake_context(auth_cache_seconds=5)
    keys = [create_workspace(ctx, f"w{i}").api_key for i in range(3)]
    authenticate(ctx, keys[0])
    authenticate(ctx, keys[1])
    assert len(workspaces._recent_keys) == 2
    authenticate(ctx, keys[2])
    assert [k for _, k in workspaces._recent_keys] == [hash_api_key(keys[2])]


def test_revoking_forgets_the_cached_key_at_once() -> None:
    ctx = fake_context(auth_cache_seconds=60)
    created = create_workspace(ctx, "w")
    second = issue_api_key(ctx, created.workspace_id)
    authenticate(ctx, second.api_key)
    revoke_api_key(ctx, second.api_key)
    with pytest.raises(Unauthorized):
        authenticate(ctx, second.api_key)


# webhook endpoints


def _create(
    ctx: object, url: str = "https://hooks.example/a", events: list[WebhookEvent] | None = None
) -> str:
    request = WebhookEndpointCreate(url=url, events=events) if events else WebhookEndpointCreate(url=url)
    return create_endpoint(ctx, WS, request).id  # type: ignore[arg-type]


def test_an_endpoint_is_stored_with_its_own_secret_and_shown_without_it() -> None:
    ctx = fake_context()
    created = create_endpoint(
        ctx, WS, WebhookEndpointCreate(url="https://hooks.example/a", events=[WebhookEvent.task_failed])
    )
    stored = store(ctx).endpoints[WS.id, created.id]
    assert created.id.startswith("wh_") and created.secret == stored.secret != WS.signing_secret
    assert stored.secret.startswith("whsec_") and stored.url == "https://hooks.example/a"
    assert stored.events == [WebhookEvent.task_failed] and stored.workspace_id == WS.id
    (shown,) = list_endpoints(ctx, WS).data
    assert shown.id == created.id and "secret" not in shown.model_dump()
    assert shown.events == [WebhookEvent.task_failed] and shown.url == created.url


def test_an_endpoint_on_a_private_address_is_refused() -> None:
    ctx = fake_context()
    for url in ("http://10.1.2.3/hook", "http://[::1]/hook", "http://169.254.169.254/latest"):
        with pytest.raises(InvalidRequest, match=r"^url: "):
            _create(ctx, url)
    assert store(ctx).endpoints == {}


def test_at_most_twenty_endpoints_per_workspace() -> None:
    ctx = fake_context()
    for i in range(MAX_ENDPOINTS_PER_WORKSPACE):
        _create(ctx, f"https://hooks.example/{i}")
    assert MAX_ENDPOINTS_PER_WORKSPACE == 20
    with pytest.raises(InvalidRequest, match="at most 20"):
        _create(ctx, "https://hooks.example/one-more")
    other = WS.model_copy(update={"id": "ws_2"})
    create_endpoint(ctx, other, WebhookEndpointCreate(url="https://hooks.example/other"))
    delete_endpoint(ctx, WS, next(iter(store(ctx).endpoints))[1])
    _create(ctx, "https://hooks.example/again")


def test_deleting_an_unknown_endpoint_is_not_found() -> None:
    ctx = fake_context()
    endpoint_id = _create(ctx)
    assert delete_endpoint(ctx, WS, endpoint_id).model_dump() == {"id": endpoint_id, "deleted": True}
    with pytest.raises(NotFound, match=endpoint_id):
        delete_endpoint(ctx, WS, endpoint_id)


def test_signing_secret_is_the_workspaces() -> None:
    assert signing_secret(WS).secret == WS.signing_secret


def _attempt(
    event: int, endpoint_id: str, *, attempt: int, status: int | None, delivered: bool
) -> WebhookAttempt:
    return WebhookAttempt(
        workspace_id=WS.id,
        event_id=f"evt_{event}",
        endpoint_id=endpoint_id,
        url="https://hooks.example/a",
        attempt=attempt,
        status_code=status,
        error=None if status else "connection refused",
        delivered=delivered,
        attempted_at=utc_now(),
    )


def test_attempts_page_newest_first_with_when_each_retry_is_due() -> None:
    ctx = fake_context(webhook_retry_schedule="5,60")
    endpoint_id = _create(ctx)
    attempts = [
        _attempt(1, endpoint_id, attempt=1, status=500, delivered=False),
        _attempt(1, endpoint_id, attempt=2, status=None, delivered=False),
        _attempt(1, endpoint_id, attempt=3, status=503, delivered=False),
        _attempt(2, endpoint_id, attempt=1, status=200, delivered=True),
        _attempt(3, "wh_other", attempt=1, status=200, delivered=True),
    ]
    store(ctx).attempts.extend(attempts)
    first = list_attempts(ctx, WS, endpoint_id, limit=3, cursor=None)
    assert first.has_more and first.next_cursor is not None
    assert [(a.event_id, a.attempt) for a in first.data] == [("evt_2", 1), ("evt_1", 3), ("evt_1", 2)]
    assert first.data[0].next_retry_at is None  # delivered
    assert first.data[1].next_retry_at is None  # the schedule has run out
    assert first.data[2].next_retry_at == attempts[1].attempted_at + timedelta(seconds=60)
    assert first.data[2].error == "connection refused" and first.data[1].status_code == 503
    second = list_attempts(ctx, WS, endpoint_id, limit=3, cursor=first.next_cursor)
    assert [(a.event_id, a.attempt) for a in second.data] == [("evt_1", 1)]
    assert second.data[0].next_retry_at == attempts[0].attempted_at + timedelta(seconds=5)
    assert not second.has_more and second.next_cursor is None


def test_a_gone_endpoints_attempt_has_no_retry_and_attempts_are_read_per_workspace() -> None:
    ctx = fake_context(webhook_retry_schedule="5,60")
    endpoint_id = _create(ctx)
    store(ctx).attempts.append(_attempt(1, endpoint_id, attempt=1, status=410, delivered=False))
    asked: list[str] = []
    query = store(ctx).query_endpoint_attempts

    def query_endpoint_attempts(workspace_id: str, endpoint_id: str, **page: Any) -> Any:
        asked.append(workspace_id)
        return query(workspace_id, endpoint_id, **page)

    store(ctx).query_endpoint_attempts = query_endpoint_attempts  # type: ignore[method-assign]
    (gone,) = list_attempts(ctx, WS, endpoint_id, limit=5, cursor=None).data
    assert gone.status_code == 410 and gone.next_retry_at is None and asked == [WS.id]


def test_a_cursor_is_bound_to_its_endpoint_and_workspace() -> None:
    ctx = fake_context()
    endpoint_id, other_id = _create(ctx, "https://hooks.example/a"), _create(ctx, "https://hooks.example/b")
    store(ctx).attempts.extend(
        _attempt(i, endpoint_id, attempt=1, status=200, delivered=True) for i in range(3)
    )
    cursor = list_attempts(ctx, WS, endpoint_id, limit=1, cursor=None).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidCursor):
        list_attempts(ctx, WS, other_id, limit=1, cursor=cursor)
    other_ws = WS.model_copy(update={"id": "ws_2"})
    store(ctx).endpoints["ws_2", endpoint_id] = store(ctx).endpoints[WS.id, endpoint_id]
    with pytest.raises(InvalidCursor):
        list_attempts(ctx, other_ws, endpoint_id, limit=1, cursor=cursor)


def test_attempts_of_an_unknown_endpoint_are_not_found() -> None:
    with pytest.raises(NotFound, match="wh_none"):
        list_attempts(fake_context(), WS, "wh_none", limit=10, cursor=None)


# Content Credentials


def _rendered(ctx: object, credentials: ContentCredentials | None) -> Task:
    now = utc_now()
    task = Task(
        id="task_1",
        workspace_id=WS.id,
        status=TaskStatus.completed,
        created_at=now,
        updated_at=now,
        task_type=TaskType.gaze_redirect,
        output=JobOutput(url="s3://b/outputs/ws_1/task_1/output.webm", content_credentials=credentials),
    )
    store(ctx).put_task(task)  # type: ignore[arg-type]
    return task


def test_keys_sit_next_to_the_output() -> None:
    task = _rendered(fake_context(), None)
    assert credentials_key(task) == "outputs/ws_1/task_1/credentials.json"
    assert sidecar_key(task, "webm") == "outputs/ws_1/task_1/output.webm.c2pa"


def test_a_sidecar_is_served_as_a_fresh_signed_link() -> None:
    ctx = fake_context(output_url_ttl_seconds=600)
    sidecar = f"s3://{ctx.blobs.bucket}/outputs/ws_1/task_1/output.webm.c2pa"
    task = _rendered(ctx, ContentCredentials(format="sidecar", sidecar_url=sidecar))
    report = ContentCredentialsReport(state="Valid", format="sidecar", sidecar_url=sidecar)
    ctx.blobs.put_bytes(credentials_key(task), report.model_dump_json().encode())
    served = get_credentials(ctx, WS, "task_1")
    assert served.state == "Valid" and served.format == "sidecar"
    assert served.sidecar_url == ctx.blobs.presigned_get(
        "outputs/ws_1/task_1/output.webm.c2pa", expires_in=600
    )


def test_embedded_credentials_have_no_link_to_sign() -> None:
    ctx = fake_context()
    embedded = ContentCredentials(format="embedded")
    assert presign_credentials(ctx, embedded) is embedded
    linked = ContentCredentials(format="sidecar", sidecar_url="https://cdn.example/x.c2pa")
    assert presign_credentials(ctx, linked) is linked
    task = _rendered(ctx, embedded)
    ctx.blobs.put_bytes(credentials_key(task), b'{"state": "Valid", "format": "embedded"}')
    assert get_credentials(ctx, WS, "task_1").sidecar_url is None


@pytest.mark.parametrize("task_id", ["task_none", "render_1", "task_1", "task_2"])
def test_credentials_of_an_unknown_or_unsigned_task_are_not_found(task_id: str) -> None:
    ctx = fake_context()
    signed = _rendered(ctx, ContentCredentials(format="embedded"))
    ctx.blobs.put_bytes(credentials_key(signed), b'{"state": "Valid", "format": "embedded"}')
    store(ctx).tasks[WS.id, "render_1"] = signed  # only task ids are looked up
    store(ctx).tasks[WS.id, "task_1"] = signed.model_copy(update={"output": JobOutput(url="s3://b/k")})
    store(ctx).tasks[WS.id, "task_2"] = signed.model_copy(
        update={"id": "task_2", "output": None}
    )  # not rendered
    with pytest.raises(NotFound, match=task_id):
        get_credentials(ctx, WS, task_id)
