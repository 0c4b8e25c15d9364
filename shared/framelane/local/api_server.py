"""The local stack's API process: uvicorn on loopback, configured by the environment `framelane local` set.

A process of its own (not a thread of `framelane local`) so the supervisor can restart it, and the soak
harness kill it, without losing moto's in-memory state.
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

from framelane.api.app import create_app
from framelane.config import Settings
from framelane.local.processes import LOOPBACK
from framelane.services.context import build_context


def app_from_environment() -> FastAPI:
    """The app each uvicorn worker process builds for itself (a factory: workers share nothing but the stores)."""
    settings = Settings()
    return create_app(settings, build_context(settings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API processes on the one port; the stores (moto, redis) are shared, so any may answer.",
    )
    args = parser.parse_args()
    uvicorn.run(
        "framelane.local.api_server:app_from_environment",
        factory=True,
        workers=args.workers,
        host=LOOPBACK,
        port=args.port,
        log_level="warning",
        access_log=False,  # a line per request is the API's own cost under load; errors are still logged
    )


if __name__ == "__main__":
    main()
