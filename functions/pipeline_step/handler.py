"""Callback-step Lambda (ingest, dispatch, finalize, webhook): SQS batch → run_callback_step per record.

One function image serves every callback queue; `FRAMELANE_STEP` names the step this deployment handles.
A record that raises is reported as a batch item failure, so SQS redelivers only it; on its last delivery the
step is failed instead (its task ends `internal_error` at once; only an unreadable record reaches the DLQ).
"""

import os

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from framelane.config import get_settings
from framelane.lambdas import sqs_batch_handler
from framelane.pipeline.steps import run_callback_step_or_fail
from framelane.services.context import build_context

STEP = os.environ["FRAMELANE_STEP"]
ctx = build_context(get_settings())


def record_handler(record: SQSRecord) -> None:
    run_callback_step_or_fail(ctx, STEP, record.body, int(record.attributes.approximate_receive_count))


handler = sqs_batch_handler(record_handler)
