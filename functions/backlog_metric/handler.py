"""Scheduled Lambda (every minute): publish the renderer stream backlog (entries waiting + in flight) as a
CloudWatch metric, which the worker service scales on and the backlog alarm watches; in SageMaker mode, queue
drain invocations; then run the render queue keeper (heartbeats renders still waiting for a worker, re-adds
entries Redis lost, fails overdue ones)."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from framelane.config import get_settings
from framelane.lambdas import metrics
from framelane.logs import service_logger
from framelane.services.context import build_context
from framelane.services.render_queue import tend_render_queue
from framelane.worker.backlog import endpoint_from_settings, request_drains, stream_backlog

ctx = build_context(get_settings())
endpoint = endpoint_from_settings(ctx)


@service_logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    backlog = stream_backlog(ctx)
    total = sum(backlog.values())
    metrics.add_metric(name="StreamBacklog", unit=MetricUnit.Count, value=total)
    if endpoint is not None and total:
        requested = request_drains(ctx, endpoint, total)
        metrics.add_metric(name="DrainRequests", unit=MetricUnit.Count, value=requested)
    kept = tend_render_queue(ctx)
    return {"backlog": backlog, "keeper": kept.__dict__}
