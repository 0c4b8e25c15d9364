"""The SageMaker asynchronous endpoint, as the backlog Lambda calls it: one drain request per invocation."""

from __future__ import annotations

import json
from typing import Any, Protocol

DRAIN_KEY = "sagemaker/inputs/drain.json"


class _Inputs(Protocol):
    """Where drain requests are written (an S3Store)."""

    bucket: str

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None: ...


class AsyncEndpoint:
    def __init__(self, client: Any, blobs: _Inputs, endpoint_name: str) -> None:
        self._client = client
        self._blobs = blobs
        self.endpoint_name = endpoint_name

    def request_drains(self, count: int, max_entries: int, seconds: float) -> list[str]:
        """Queue `count` asynchronous drain invocations; returns their inference ids."""
        if count <= 0:
            return []
        body = json.dumps({"drain": {"max_entries": max_entries, "seconds": seconds}}).encode()
        self._blobs.put_bytes(DRAIN_KEY, body, "application/json")
        location = f"s3://{self._blobs.bucket}/{DRAIN_KEY}"
        return [
            str(
                self._client.invoke_endpoint_async(
                    EndpointName=self.endpoint_name,
                    InputLocation=location,
                    ContentType="application/json",
                    InvocationTimeoutSeconds=int(seconds) + 300,
                )["InferenceId"]
            )
            for _ in range(count)
        ]
