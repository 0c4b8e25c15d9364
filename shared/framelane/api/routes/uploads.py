"""/v1/uploads: presigned S3 PUTs for media that is not on a public URL."""

from typing import Annotated

from fastapi import APIRouter, Body

from framelane.api.deps import ContextDep, CurrentWorkspace
from framelane.api.errors import ERROR_RESPONSES
from framelane.models import UploadCreateRequest, UploadOut
from framelane.services.uploads import create_upload

router = APIRouter(prefix="/v1/uploads", tags=["uploads"], responses={401: ERROR_RESPONSES[401]})


@router.post(
    "",
    response_model=UploadOut,
    status_code=201,
    summary="Create a presigned upload",
    responses={422: ERROR_RESPONSES[422]},
)
def create(
    workspace: CurrentWorkspace,
    ctx: ContextDep,
    body: Annotated[UploadCreateRequest | None, Body()] = None,
) -> UploadOut:
    return create_upload(ctx, workspace, body or UploadCreateRequest())
