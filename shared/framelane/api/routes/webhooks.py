"""/v1/webhooks: workspace-level endpoints and the default signing secret."""

from typing import Annotated

from fastapi import APIRouter, Query

from framelane.api.deps import ContextDep, CurrentWorkspace
from framelane.api.errors import ERROR_RESPONSES
from framelane.api.routes import EndpointId
from framelane.models import (
    Deleted,
    SigningSecret,
    WebhookAttemptPage,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointList,
)
from framelane.services import webhooks as webhook_service

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses={401: ERROR_RESPONSES[401]})


@router.post(
    "",
    response_model=WebhookEndpointCreated,
    status_code=201,
    summary="Create a webhook endpoint",
    responses={422: ERROR_RESPONSES[422]},
)
def create_endpoint(
    body: WebhookEndpointCreate, workspace: CurrentWorkspace, ctx: ContextDep
) -> WebhookEndpointCreated:
    return webhook_service.create_endpoint(ctx, workspace, body)


@router.get("", response_model=WebhookEndpointList, summary="List webhook endpoints")
def list_endpoints(workspace: CurrentWorkspace, ctx: ContextDep) -> WebhookEndpointList:
    return webhook_service.list_endpoints(ctx, workspace)


@router.get(
    "/signing-secret", response_model=SigningSecret, summary="The secret that signs per-request webhooks"
)
def signing_secret(workspace: CurrentWorkspace) -> SigningSecret:
    return webhook_service.signing_secret(workspace)


@router.delete(
    "/{endpoint_id:id}",
    response_model=Deleted,
    summary="Delete a webhook endpoint",
    responses={404: ERROR_RESPONSES[404]},
)
def delete_endpoint(endpoint_id: EndpointId, workspace: CurrentWorkspace, ctx: ContextDep) -> Deleted:
    return webhook_service.delete_endpoint(ctx, workspace, endpoint_id)


@router.get(
    "/{endpoint_id:id}/attempts",
    response_model=WebhookAttemptPage,
    summary="List an endpoint's delivery attempts",
    responses={400: ERROR_RESPONSES[400], 404: ERROR_RESPONSES[404], 422: ERROR_RESPONSES[422]},
)
def list_attempts(
    endpoint_id: EndpointId,
    workspace: CurrentWorkspace,
    ctx: ContextDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=4096, description="`next_cursor` of the previous page.")
    ] = None,
) -> WebhookAttemptPage:
    return webhook_service.list_attempts(ctx, workspace, endpoint_id, limit=limit, cursor=cursor)
