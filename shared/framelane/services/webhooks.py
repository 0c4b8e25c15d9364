"""Workspace webhook endpoints and the default signing secret (delivery itself lives in the pipeline)."""

from __future__ import annotations

from urllib.parse import urlsplit

from framelane.errors import InvalidRequest, NotFound
from framelane.ids import new_id, new_webhook_secret
from framelane.models import (
    Deleted,
    SigningSecret,
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
