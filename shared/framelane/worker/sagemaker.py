"""SageMaker asynchronous-inference serving mode of the worker image: `/ping` and `/invocations`.

An invocation's body is a RenderMessage (what the Redis stream carries). The same `RendererWorker.execute`
renders it and answers the Step Functions token; the response is the task's final status.
"""

from __future__ import annotations

from fastapi import FastAPI, Response

from framelane.models import RenderMessage, StepOutcome
from framelane.services.jobs import load_job
from framelane.worker.runtime import RendererWorker


def serving_app(worker: RendererWorker) -> FastAPI:
    app = FastAPI(title="Framelane renderer (SageMaker serving)")

    @app.get("/ping", status_code=200)
    def ping() -> Response:
        return Response(status_code=200)

    @app.post("/invocations", response_model=StepOutcome)
    def invocations(message: RenderMessage) -> StepOutcome:
        worker.execute(message)
        job = load_job(worker.ctx, message.workspace_id, message.task_id)
        return StepOutcome(task_id=job.id, status=job.status)

    return app
