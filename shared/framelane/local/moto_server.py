"""moto_server as `python -m moto.server` runs it, with DynamoDB requests serialized.

moto's TransactWriteItems deep-copies every table it touches without a lock, so a write arriving on another
server thread meanwhile fails it with HTTP 500 ("dictionary changed size during iteration"). Real DynamoDB
has no such limit; locally, one DynamoDB request at a time keeps the emulator correct under concurrency.
Other services (SQS long polls, Step Functions) are not serialized.

moto's SendTaskFailure handler also drops the `cause` (the human-readable message a Catch passes on);
`_keep_task_failure_cause` restores it, so failed jobs locally carry the same message as on AWS.
"""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


class SerializedDynamoDB:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            result: Iterable[bytes] = self.app(environ, start_response)
            return result
        with self.lock:
            return list(self.app(environ, start_response))


def _keep_task_failure_cause() -> None:
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self: StepFunctionResponse) -> Any:
        self.stepfunction_backend.send_task_failure(  # type: ignore[call-arg]  # the executing (parser) backend takes cause
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    _keep_task_failure_cause()
    app = SerializedDynamoDB(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
