"""Workspace webhook endpoints and the default signing secret (delivery itself lives in the pipeline)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from framelane.errors import InvalidRequest, NotFound
from framelane.ids import new_id, new_webhook_secret
from framelane.models import (
    Deleted,
    SigningSecret,
    WebhookAttempt,
    WebhookAttemptOut,
    WebhookAttemptPage,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointList,
    WebhookEndpointOut,
    Workspace,
    utc_now,
)
from framelane.security.outbound import BlockedAddress
from framelane.services.context import ServiceContext
from framelane.services.cursor import decode_cursor, encode_cursor
from framelane.services.webhook_delivery import retry_in_seconds

MAX_ENDPOINTS_PER_WORKSPACE = 20


def create_endpoint(
    ctx: ServiceContext, workspace: Workspace, request: WebhookEndpointCreate
) -> WebhookEndpointCreated:
    try:
        ctx.outbound.check_host_literal(urlsplit(request.url).hostname or "")
    except BlockedAddress as exc:
        raise InvalidRequest(f"url: {exc}") from exc
    if len(ctx.store.list_webhook_endpoints(workspace.id)) >= MAX_ENDPOINTS_PER_WORKSPACE:
        raise InvalidRequest(f"a workspace has at most {MAX_ENDPOINTS_PER_WORKSPACE} webhook endpoints")
    endpoint = WebhookEndpoint(
        id=new_id("wh"),
        workspace_id=workspace.id,
        url=request.url,
        events=list(dict.fromkeys(request.events)),
        created_at=utc_now(),
        secret=new_webhook_secret(),
    )
    ctx.store.put_webhook_endpoint(endpoint)
    return WebhookEndpointCreated.model_validate(endpoint.model_dump(exclude={"workspace_id"}))


def list_endpoints(ctx: ServiceContext, workspace: Workspace) -> WebhookEndpointList:
    endpoints = ctx.store.list_webhook_endpoints(workspace.id)
    return WebhookEndpointList(
        data=[
            WebhookEndpointOut.model_validate(e.model_dump(exclude={"secret", "workspace_id"}))
            for e in endpoints
        ]
    )


def delete_endpoint(ctx: ServiceContext, workspace: Workspace, endpoint_id: str) -> Deleted:
    if not ctx.store.delete_webhook_endpoint(workspace.id, endpoint_id):
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return Deleted(id=endpoint_id)


def signing_secret(workspace: Workspace) -> SigningSecret:
    return SigningSecret(secret=workspace.signing_secret)


def list_attempts(
    ctx: ServiceContext, workspace: Workspace, endpoint_id: str, *, limit: int, cursor: str | None
) -> WebhookAttemptPage:
    """An endpoint's delivery attempts, newest event first, each with when its retry is due."""
    if ctx.store.get_webhook_endpoint(workspace.id, endpoint_id) is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    filters: dict[str, str | None] = {"endpoint": endpoint_id}
    secret = ctx.settings.cursor_secret
    start = (
        decode_cursor(cursor, workspace_id=workspace.id, filters=filters, secret=secret) if cursor else None
    )
    attempts, position = ctx.store.query_endpoint_attempts(
        workspace.id, endpoint_id, limit=limit, start_key=start
    )
    schedule = ctx.settings.webhook_retry_schedule
    return WebhookAttemptPage(
        data=[_attempt_out(attempt, schedule) for attempt in attempts],
        next_cursor=encode_cursor(position, workspace_id=workspace.id, filters=filters, secret=secret)
        if position
        else None,
        has_more=position is not None,
    )


def _attempt_out(attempt: WebhookAttempt, schedule: tuple[int, ...]) -> WebhookAttemptOut:
    retry_in = None if attempt.delivered else retry_in_seconds(attempt.attempt, attempt.status_code, schedule)
    return WebhookAttemptOut(
        **attempt.model_dump(include=set(WebhookAttemptOut.model_fields)),
        next_retry_at=None if retry_in is None else attempt.attempted_at + timedelta(seconds=retry_in),
    )
