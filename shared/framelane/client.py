"""A small HTTP client for the Framelane API, used by the CLI, the demo and the benchmarks."""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx

from framelane.models import EffectiveLimits, JobOut, TaskPage, UploadOut, WorkspaceCreated, WorkspaceOut


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def _check(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    try:
        error = response.json()["error"]
        raise ApiError(response.status_code, error["code"], error["message"])
    except (ValueError, KeyError, TypeError):
        raise ApiError(response.status_code, "http_error", response.text[:200]) from None


RATE_LIMIT_RETRIES = 4
MAX_RETRY_WAIT = 60.0


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def _say_waiting(seconds: float, attempt: int, retries: int) -> None:
    print(f"rate limited: waiting {seconds:.1f} s (retry {attempt} of {retries})", file=sys.stderr)


class FramelaneClient:
    """`on_wait(seconds, attempt, retries)` is told before each wait after a 429 (default: a line on stderr)."""

    def __init__(
        self,
        api_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30,
        rate_limit_retries: int = RATE_LIMIT_RETRIES,
        on_wait: Callable[[float, int, int], None] = _say_waiting,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=api_url.rstrip("/"), headers=headers, timeout=timeout)
        self._retries = rate_limit_retries
        self._on_wait = on_wait

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send, honouring 429's Retry-After: at most `rate_limit_retries` waits, each capped at a minute and
        stretched by up to 50 % of jitter so that clients turned away together do not all come back together.
        A 429 means nothing was done, so a retried creation cannot create twice."""
        attempt = 0
        while True:
            response = self._http.request(method, path, **kwargs)
            if response.status_code != 429 or attempt >= self._retries:
                return response
            attempt += 1
            wait = min(MAX_RETRY_WAIT, _retry_after(response) * random.uniform(1.0, 1.5))  # noqa: S311
            self._on_wait(wait, attempt, self._retries)
            time.sleep(wait)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FramelaneClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def create_task(
        self, task_type: str, body: dict[str, Any], *, idempotency_key: str | None = None
    ) -> tuple[JobOut, bool]:
        """The task, and whether the server answered with an idempotent replay (200) instead of 202."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        path = f"/v1/tasks/{task_type.replace('_', '-')}"
        response = _check(self._request("POST", path, json=body, headers=headers))
        return JobOut.model_validate(response.json()), response.status_code == 200

    def get_task(self, task_id: str) -> JobOut:
        return JobOut.model_validate(_check(self._request("GET", f"/v1/tasks/{task_id}")).json())

    def list_tasks(self, **params: Any) -> TaskPage:
        query = {k: v for k, v in params.items() if v is not None}
        return TaskPage.model_validate(_check(self._request("GET", "/v1/tasks", params=query)).json())

    def cancel_task(self, task_id: str) -> JobOut:
        return JobOut.model_validate(_check(self._request("POST", f"/v1/tasks/{task_id}/cancel")).json())

    def create_upload(self, content_type: str | None = None) -> UploadOut:
        body = {"content_type": content_type} if content_type else {}
        return UploadOut.model_validate(_check(self._request("POST", "/v1/uploads", json=body)).json())

    def upload_file(self, upload: UploadOut, path: str) -> None:
        """PUT the file with exactly the headers the presigned URL was signed for, streamed from disk. The
        explicit Content-Length keeps it one plain request (S3 refuses chunked uploads to a presigned PUT)."""
        headers = {**upload.headers, "Content-Length": str(os.path.getsize(path))}
        with open(path, "rb") as body:
            _check(httpx.put(upload.upload_url, content=body, headers=headers, timeout=120))

    def create_workspace(self, name: str, admin_token: str) -> WorkspaceCreated:
        response = self._http.post(
            "/admin/workspaces", json={"name": name}, headers={"Authorization": f"Bearer {admin_token}"}
        )
        return WorkspaceCreated.model_validate(_check(response).json())

    def issue_api_key(self, workspace_id: str, admin_token: str) -> WorkspaceCreated:
        response = self._http.post(
            f"/admin/workspaces/{workspace_id}/api-keys", headers={"Authorization": f"Bearer {admin_token}"}
        )
        return WorkspaceCreated.model_validate(_check(response).json())

    def revoke_api_key(self, api_key: str, admin_token: str) -> None:
        response = self._http.post(
            "/admin/api-keys/revoke",
            json={"api_key": api_key},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
        _check(response)

    def get_workspace(self) -> WorkspaceOut:
        return WorkspaceOut.model_validate(_check(self._request("GET", "/v1/workspace")).json())

    def workspace_limits(
        self, workspace_id: str, admin_token: str, changes: dict[str, int | None] | None = None
    ) -> EffectiveLimits:
        """The workspace's limits; with `changes`, after applying them (None: back to the default)."""
        path = f"/admin/workspaces/{workspace_id}/limits"
        headers = {"Authorization": f"Bearer {admin_token}"}
        if changes:
            response = self._http.patch(path, json=changes, headers=headers)
        else:
            response = self._http.get(path, headers=headers)
        return EffectiveLimits.model_validate(_check(response).json())

    def download(self, url: str, path: str) -> int:
        """Stream an output URL to `path`; returns the byte count. An error answer is read (it is small) and
        raised before `path` is opened, so a refused download leaves no empty file behind."""
        size = 0
        with httpx.stream("GET", url, timeout=120, follow_redirects=True) as response:
            if not response.is_success:
                response.read()
                _check(response)
            with open(path, "wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    size += len(chunk)
        return size
