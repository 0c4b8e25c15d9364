"""schemathesis against the app's own OpenAPI, in-process (ASGI): no 5xx, responses match the schema.

Generated URLs are never fetched: this app has no pipeline configured, and the run uses the `allowlist`
outbound policy (tests/conftest.py), so nothing may leave loopback.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from framelane.api.app import create_app
from framelane.services.workspaces import create_workspace

from .conftest import Stack

EXAMPLES = int(os.environ.get("FRAMELANE_FUZZ_EXAMPLES", "50"))  # per operation; raise it for a deeper run
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_target(stack: Stack) -> tuple[schemathesis.BaseSchema, dict[str, str]]:
    assert (
        stack.ctx.settings.task_state_machine_arn is None
    )  # nothing behind the API may fetch a generated URL
    app = create_app(stack.settings, stack.ctx)
    key = create_workspace(stack.ctx, "fuzz").api_key
    return schemathesis.openapi.from_asgi("/openapi.json", app), {"Authorization": f"Bearer {key}"}


def test_openapi_document_is_complete(fuzz_target: tuple[schemathesis.BaseSchema, dict[str, str]]) -> None:
    schema, _ = fuzz_target
    raw = schema.raw_schema
    paths = raw["paths"]
    for path in [
        "/v1/tasks/remove-background",
        "/v1/tasks/gaze-redirect",
        "/v1/tasks/super-resolution",
        "/v1/tasks/transcribe",
        "/v1/tasks",
        "/v1/tasks/{task_id}",
        "/v1/tasks/{task_id}/cancel",
        "/v1/webhooks",
        "/v1/webhooks/{endpoint_id}",
        "/v1/webhooks/signing-secret",
        "/v1/uploads",
        "/healthz",
    ]:
        assert path in paths, path
    gaze = raw["components"]["schemas"]["GazeRedirectRequest"]["properties"]
    assert gaze["intensity"]["minimum"] == 0 and gaze["intensity"]["maximum"] == 1
    assert gaze["source_url"]["maxLength"] == 2083 and gaze["source_url"]["description"]
    assert "/admin/workspaces" not in paths


def test_fuzz_every_operation(fuzz_target: tuple[schemathesis.BaseSchema, dict[str, str]]) -> None:
    schema, auth = fuzz_target
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:

        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=auth, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then fail once with all of them
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
