"""Callback-step Lambda (ingest, dispatch, finalize, webhook): SQS batch → run_callback_step per record.

One function image serves every callback queue; `FRAMELANE_STEP` names the step this deployment handles.
A record that raises is reported as a batch item failure, so SQS redelivers only it; on its last delivery the
step is failed instead (its task ends `internal_error` at once; only an unreadable record reaches the DLQ).
"""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from framelane.config import get_settings
from framelane.pipeline.steps import run_callback_step_or_fail
from framelane.services.context import build_context

STEP = os.environ["FRAMELANE_STEP"]
logger = Logger(service=f"framelane-{STEP}")
tracer = Tracer(service=f"framelane-{STEP}")
metrics = Metrics(namespace="Framelane", service=f"framelane-{STEP}")
processor = BatchProcessor(event_type=EventType.SQS)
ctx = build_context(get_settings())


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    run_callback_step_or_fail(ctx, STEP, record.body, int(record.attributes.approximate_receive_count))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
