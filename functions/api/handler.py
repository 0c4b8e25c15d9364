"""API Lambda: API Gateway (HTTP API v2 or REST v1) → Mangum → the FastAPI app. Nothing else lives here."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from framelane.api.app import create_app
from framelane.lambdas import metrics, tracer
from framelane.logs import service_logger

asgi_handler = Mangum(create_app(), lifespan="off")


@service_logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = asgi_handler(event, context)
    metrics.add_metric(name=f"Http{response.get('statusCode', 500) // 100}xx", unit=MetricUnit.Count, value=1)
    return response
