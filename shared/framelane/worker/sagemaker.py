"""SageMaker asynchronous-inference serving mode of the worker image: `/ping` and `/invocations`.

The broker stays the one source of work: an invocation asking to drain (`{"drain": {...}}`, what the backlog Lambda
sends while the stream holds work) claims stream entries like an ECS worker — reclaiming abandoned ones first — and
renders them until none waits or its budget is spent, ACKing each once settled (the same at-least-once semantics).
A RenderMessage body renders that one task (a direct invocation)."""

from __future__ import annotations

import time

from fastapi import FastAPI, Response
from pydantic import BaseModel, Field

from framelane.models import RenderMessage, StepOutcome
from framelane.services.task_state import load_task
from framelane.worker.runtime import RendererWorker


class DrainLimits(BaseModel):
    max_entries: int = Field(default=20, ge=1, le=1000)
    seconds: float = Field(default=3000, gt=0, le=3600, description="Stays inside the invocation timeout.")


class DrainRequest(BaseModel):
    drain: DrainLimits


class Drained(BaseModel):
    rendered: int


def drain(worker: RendererWorker, limits: DrainLimits) -> int:
    """Claim and render stream entries until none waits, `max_entries` or the time budget; returns how many."""
    deadline = time.monotonic() + limits.seconds
    settled = 0
    while settled < limits.max_entries and time.monotonic() < deadline and not worker.stopping.is_set():
        delivery = worker.next_delivery()
        if delivery is None:
            break
        worker.process(delivery)
        settled += 1
    return settled


def serving_app(worker: RendererWorker) -> FastAPI:
    app = FastAPI(title="Framelane renderer (SageMaker serving)")

    @app.get("/ping", status_code=200)
    def ping() -> Response:
        return Response(status_code=200)

    @app.post("/invocations", response_model=StepOutcome | Drained)
    def invocations(body: DrainRequest | RenderMessage) -> StepOutcome | Drained:
        if isinstance(body, DrainRequest):
            return Drained(rendered=drain(worker, body.drain))
        worker.execute(body)
        task = load_task(worker.ctx, body.workspace_id, body.task_id)
        return StepOutcome(task_id=task.id, status=task.status)

    return app
