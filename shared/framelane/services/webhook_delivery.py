"""One webhook delivery attempt: sign (Standard Webhooks), POST through the SSRF guard, record, decide."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from framelane.models import WebhookAttempt, WebhookDeliveryInput, WebhookDeliveryResult, utc_now
from framelane.security.safe_http import FetchError, FetchLimits, SafeHttpClient
from framelane.services.context import ServiceContext


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed with the secret's base64 part."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def deliver(ctx: ServiceContext, delivery: WebhookDeliveryInput) -> WebhookDeliveryResult:
    secret = _secret(ctx, delivery)
    if secret is None:  # endpoint deleted or disabled since the event was raised
        return WebhookDeliveryResult(delivered=False, retry_in_seconds=None, attempt=delivery.attempt)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": delivery.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, delivery.event_id, timestamp, delivery.body),
    }
    client = SafeHttpClient(
        ctx.outbound,
        FetchLimits(ctx.settings.fetch_connect_timeout, ctx.settings.webhook_timeout, max_redirects=0),
    )
    status: int | None = None
    error: str | None = None
    try:
        with client.request("POST", delivery.url, body=delivery.body.encode(), headers=headers) as response:
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
        return WebhookDeliveryResult(delivered=False, retry_in_seconds=None, attempt=delivery.attempt)
    schedule = ctx.settings.webhook_retry_schedule
    retry_in = schedule[delivery.attempt - 1] if delivery.attempt <= len(schedule) else None
    return WebhookDeliveryResult(delivered=False, retry_in_seconds=retry_in, attempt=delivery.attempt + 1)


def _secret(ctx: ServiceContext, delivery: WebhookDeliveryInput) -> str | None:
    if delivery.endpoint_id is None:
        workspace = ctx.store.get_workspace(delivery.workspace_id)
        return workspace.signing_secret if workspace else None
    endpoint = ctx.store.get_webhook_endpoint(delivery.workspace_id, delivery.endpoint_id)
    return endpoint.secret if endpoint and not endpoint.disabled else None
