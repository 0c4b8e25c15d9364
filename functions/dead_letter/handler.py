"""Dead-letter Lambda: a callback step's message that failed every delivery lands here; its task's step is failed
at once with `internal_error` (instead of waiting for the state's timeout), and a DeadLetters metric pages ops."""

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from framelane.config import get_settings
from framelane.lambdas import metrics, sqs_batch_handler
from framelane.logs import service_logger as logger
from framelane.pipeline.steps import fail_callback_step
from framelane.services.context import build_context

ctx = build_context(get_settings())


def record_handler(record: SQSRecord) -> None:
    metrics.add_metric(name="DeadLetters", unit=MetricUnit.Count, value=1)
    queue = record.event_source_arn.rsplit(":", 1)[-1]
    logger.warning("dead letter", extra={"queue": queue, "message_id": record.message_id})
    try:
        fail_callback_step(ctx, record.body, f"the step's message failed every delivery ({queue})")
    except ValidationError:  # not a callback message: no task to end; the DeadLetters alarm pages
        logger.exception("dead letter without a task token", extra={"queue": queue})


handler = sqs_batch_handler(record_handler)
