"""Dead-letter Lambda: a callback step's message that failed every delivery lands here; its task's step is failed
at once with `internal_error` (instead of waiting for the state's timeout), and a DeadLetters metric pages ops."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from framelane.config import get_settings
from framelane.pipeline.steps import fail_callback_step
from framelane.services.context import build_context

logger = Logger(service="framelane-dead-letter")
tracer = Tracer(service="framelane-dead-letter")
metrics = Metrics(namespace="Framelane", service="framelane-dead-letter")
processor = BatchProcessor(event_type=EventType.SQS)
ctx = build_context(get_settings())


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    metrics.add_metric(name="DeadLetters", unit=MetricUnit.Count, value=1)
    queue = record.event_source_arn.rsplit(":", 1)[-1]
    logger.warning("dead letter", extra={"queue": queue, "message_id": record.message_id})
    try:
        fail_callback_step(ctx, record.body, f"the step's message failed every delivery ({queue})")
    except ValidationError:  # not a callback message: no task to end; the DeadLetters alarm pages
        logger.exception("dead letter without a task token", extra={"queue": queue})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
