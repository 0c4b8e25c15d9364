"""Inbound callbacks from providers (not in the public OpenAPI): AssemblyAI's transcript webhook."""

from typing import Annotated

from fastapi import APIRouter, Header
from pydantic import BaseModel

from framelane.adapters.assemblyai import CALLBACK_HEADER
from framelane.api.deps import ContextDep
from framelane.models import AssemblyAiCallback
from framelane.services.transcription import assemblyai_callback

router = APIRouter(prefix="/v1/callbacks", include_in_schema=False)


class CallbackAck(BaseModel):
    received: bool = True


@router.post("/assemblyai/{workspace_id}/{task_id}", response_model=CallbackAck)
def assemblyai(
    workspace_id: str,
    task_id: str,
    body: AssemblyAiCallback,
    ctx: ContextDep,
    secret: Annotated[str | None, Header(alias=CALLBACK_HEADER)] = None,
) -> CallbackAck:
    assemblyai_callback(ctx, workspace_id, task_id, secret, body)
    return CallbackAck()
