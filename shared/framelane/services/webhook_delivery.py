"""One webhook delivery attempt: sign (Standard Webhooks), POST through the SSRF guard, record, decide.

The body is the event as Notify rendered it, except the output link, which is signed again for every attempt:
links last `output_url_ttl_seconds` (24 h) and retries run for days (the schedule adds up to about 75 h), so a
link signed when the event was raised would be dead by the later attempts. The `webhook-id` never changes.

The signature is hand-written (`sign`, a few lines of HMAC) rather than the standardwebhooks package: it is the
whole of what the sender needs; the tests verify it with that package, as a receiver would.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from framelane.models import (
    WebhookAttempt,
    WebhookDeliveryInput,
    WebhookDeliveryResult,
    WebhookPayload,
    utc_now,
)
from framelane.security.safe_http import FetchError, FetchLimits, SafeHttpClient
from framelane.services.context import ServiceContext
from framelane.services.task_state import present


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed with the secret's base64 part."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def retry_in_seconds(attempt: int, status: int | None, schedule: tuple[int, ...]) -> int | None:
    """How long after a failed attempt the next one runs; None when none will. 410 Gone is final; otherwise
    attempt n waits schedule[n - 1] until the schedule runs out."""
    if status == 410 or attempt > len(schedule):
        return None
    return schedule[attempt - 1]


def deliver(ctx: ServiceContext, delivery: WebhookDeliveryInput) -> WebhookDeliveryResult:
    secret = _secret(ctx, delivery)
    if secret is None:  # endpoint deleted or disabled since the event was raised
        return WebhookDeliveryResult(delivered=False, retry_in_seconds=None, attempt=delivery.attempt)
    body = _with_fresh_output_link(ctx, delivery)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": delivery.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, delivery.event_id, timestamp, body),
    }
    client = SafeHttpClient(
        ctx.outbound,
        FetchLimits(ctx.settings.fetch_connect_timeout, ctx.settings.webhook_timeout, max_redirects=0),
    )
    status: int | None = None
    error: str | None = None
    try:
        with client.request("POST", delivery.url, body=body.encode(), headers=headers) as response:
            status = response.status
    except FetchError as exc:
        error = str(exc)
    delivered = status is not None and 200 <= status < 300
    ctx.store.record_webhook_attempt(
        WebhookAttempt(
            workspace_id=delivery.workspace_id,
            event_id=delivery.event_id,
            endpoint_id=delivery.endpoint_id,
            url=delivery.url,
            attempt=delivery.attempt,
            status_code=status,
            error=error,
            delivered=delivered,
            attempted_at=utc_now(),
        )
    )
    if delivered:
        return WebhookDeliveryResult(delivered=True, attempt=delivery.attempt)
    if status == 410 and delivery.endpoint_id is not None:
        ctx.store.disable_webhook_endpoint(delivery.workspace_id, delivery.endpoint_id)
    retry_in = retry_in_seconds(delivery.attempt, status, ctx.settings.webhook_retry_schedule)
    if retry_in is None:
        return WebhookDeliveryResult(delivered=False, retry_in_seconds=None, attempt=delivery.attempt)
    return WebhookDeliveryResult(delivered=False, retry_in_seconds=retry_in, attempt=delivery.attempt + 1)


def _with_fresh_output_link(ctx: ServiceContext, delivery: WebhookDeliveryInput) -> str:
    """The delivery's body with its output link signed now (bodies without an output are sent as they are)."""
    payload = WebhookPayload.model_validate_json(delivery.body)
    if payload.data.output is None:
        return delivery.body
    task = ctx.store.get_task(delivery.workspace_id, payload.data.id)
    output = present(ctx, task).output if task is not None else None
    if output is None:
        return delivery.body
    data = payload.data.model_copy(update={"output": output})
    return payload.model_copy(update={"data": data}).model_dump_json()


def _secret(ctx: ServiceContext, delivery: WebhookDeliveryInput) -> str | None:
    if delivery.endpoint_id is None:
        workspace = ctx.store.get_workspace(delivery.workspace_id)
        return workspace.signing_secret if workspace else None
    endpoint = ctx.store.get_webhook_endpoint(delivery.workspace_id, delivery.endpoint_id)
    return endpoint.secret if endpoint and not endpoint.disabled else None
