#!/usr/bin/env python3
"""Smoke test of a deployed SageMaker asynchronous endpoint (`-c sagemaker_endpoint=true`), with the SageMaker
Python SDK (`pip install '.[ops]'`): one drain invocation, awaited until its result or failure lands in S3.

    python scripts/sagemaker_smoke.py --stage prod --bucket <the stack's Bucket output> [--region eu-west-1]

A drain claims stream entries like an ECS worker; with nothing waiting it answers `{"rendered": 0}` at once. So the
check proves that the endpoint wakes from zero, pulls the image, reaches Redis (its secret, the VPC) and writes its
answer to S3, without rendering anything. The SDK earns its place here: it uploads the input, invokes
asynchronously and waits on both the output and the failure object (the AWS CLI leaves that waiting to you).
Prints one JSON line and exits 0 only on a well-formed drain answer. (Lambdas use boto3, never this SDK.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

INPUT_PREFIX = "sagemaker/inputs/"  # the endpoint's role reads sagemaker/*; the dispatcher writes here too


@dataclass(frozen=True)
class SmokePlan:
    endpoint_name: str
    input_path: str
    body: dict[str, Any]
    invocation_timeout_seconds: int
    waiter_attempts: int
    waiter_delay_seconds: int


def endpoint_name(stage: str) -> str:
    """The name the CDK gives the endpoint (infra.config.StageConfig.sagemaker_endpoint_name)."""
    return f"framelane-{stage}-renderer"


def plan(stage: str, bucket: str, *, timeout: int, max_entries: int = 1, seconds: int = 60) -> SmokePlan:
    """What to invoke: a drain small enough to return quickly, input under the prefix the role may read; the
    waiter covers `timeout` (a cold endpoint starts an instance and pulls the image: minutes)."""
    if not bucket or "/" in bucket:
        raise ValueError(f"not a bucket name: {bucket!r}")
    delay = 15
    return SmokePlan(
        endpoint_name=endpoint_name(stage),
        input_path=f"s3://{bucket}/{INPUT_PREFIX}smoke-{int(time.time())}.json",
        body={"drain": {"max_entries": max_entries, "seconds": seconds}},
        invocation_timeout_seconds=seconds + 300,
        waiter_attempts=max(1, timeout // delay),
        waiter_delay_seconds=delay,
    )


def run(smoke: SmokePlan, region: str | None) -> dict[str, Any]:
    """Invoke through the SDK's AsyncPredictor and return the endpoint's answer (raises on a failure object)."""
    import boto3  # the SDK (~1 GB with its dependencies) is imported only here, for this command
    from sagemaker.async_inference import WaiterConfig
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.predictor import Predictor
    from sagemaker.predictor_async import AsyncPredictor
    from sagemaker.serializers import JSONSerializer
    from sagemaker.session import Session

    session = Session(boto_session=boto3.Session(region_name=region))
    predictor = AsyncPredictor(
        Predictor(
            smoke.endpoint_name,
            sagemaker_session=session,
            serializer=JSONSerializer(),
            deserializer=JSONDeserializer(),
        )
    )
    answer: dict[str, Any] = predictor.predict(
        data=smoke.body,
        input_path=smoke.input_path,
        initial_args={"InvocationTimeoutSeconds": smoke.invocation_timeout_seconds},
        waiter_config=WaiterConfig(max_attempts=smoke.waiter_attempts, delay=smoke.waiter_delay_seconds),
    )
    return answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--bucket", required=True, help="the stack's media bucket (the `Bucket` output)")
    parser.add_argument("--region", default=None)
    parser.add_argument("--timeout", type=int, default=1200, help="seconds to wait (cold start included)")
    args = parser.parse_args(argv)
    smoke = plan(args.stage, args.bucket, timeout=args.timeout)
    try:
        answer = run(smoke, args.region)
    except Exception as exc:  # the SDK's errors (failure object, waiter exhausted) say what went wrong
        print(json.dumps({"endpoint": smoke.endpoint_name, "error": f"{type(exc).__name__}: {exc}"}))
        return 1
    ok = isinstance(answer, dict) and isinstance(answer.get("rendered"), int)
    print(json.dumps({"endpoint": smoke.endpoint_name, "answer": answer, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # the SDK leaves its waiter on the other object (failure after an output, or output after a failure) running
    # in a non-daemon thread until its attempts run out: do not wait up to --timeout for it
    os._exit(code)
