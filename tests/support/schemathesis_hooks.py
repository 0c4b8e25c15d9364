"""schemathesis hooks of the OpenAPI fuzz run (`schemathesis.toml`): the only failures it may drop, each with why.

All are "schema-valid request rejected" (positive_data_acceptance) where the rejection depends on state, a secret
or a budget that the schema cannot state; each is matched by its status and error code (and, where the code is
the generic `validation_error`, its operation and message), so any other rejection of schema-valid data still
fails the run.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import Case, HookContext, Response
from schemathesis.core.failures import Failure

_BY_CODE = {
    # The same Idempotency-Key with another body is 422 `idempotency_key_reused` (DESIGN: the key is bound to
    # the first body for 24 h); the generator reuses short keys ("0", "00") across unrelated cases.
    (422, "idempotency_key_reused"),
    # A cursor is an HMAC-signed token the API issued (a forged or stale one is 400 `invalid_cursor`); a string
    # of the documented shape is not one the API issued.
    (400, "invalid_cursor"),
}

# The messages of POST /v1/uploads' checks of the task it names (services/uploads.py).
_UPLOAD_TASK_RULES = (
    "metadata name ",
    "options are not valid for ",
    "options and metadata are too large for an upload-triggered task",
)


def _state_dependent_validation(case: Case, body: dict[str, Any]) -> bool:
    path = case.operation.path
    message = str(body.get("message", ""))
    if path == "/v1/webhooks":
        # A workspace holds at most 20 endpoints: the run creates more than that in its one workspace.
        return message.startswith("a workspace has at most")
    if path == "/v1/uploads":
        # An upload that names a task carries the task's options and metadata as S3 object metadata: they are
        # checked against that task's request model (stated in its own endpoint's schema), S3's metadata names
        # and its 2 KB budget, rules that depend on `task_type` and on the encoded size.
        return message.startswith(_UPLOAD_TASK_RULES)
    return False


@schemathesis.hook
def filter_failure(context: HookContext, failure: Failure, case: Case, response: Response) -> bool:
    if "positive_data_acceptance" not in failure.checks:
        return True
    try:
        error = response.json()["error"]
        code = error["code"]
    except (ValueError, KeyError, TypeError):
        return True
    if (response.status_code, code) in _BY_CODE:
        return False
    return not (
        response.status_code == 422
        and code == "validation_error"
        and _state_dependent_validation(case, error)
    )
