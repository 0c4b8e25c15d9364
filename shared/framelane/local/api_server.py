"""The local stack's API process: uvicorn on loopback, configured by the environment `framelane local` set.

A process of its own (not a thread of `framelane local`) so the supervisor can restart it, and the soak
harness kill it, without losing moto's in-memory state.
"""

from __future__ import annotations

import argparse

import uvicorn

from framelane.api.app import create_app
from framelane.config import Settings
from framelane.local.processes import LOOPBACK
from framelane.services.context import build_context


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings()
    uvicorn.run(
        create_app(settings, build_context(settings)),
        host=LOOPBACK,
        port=args.port,
        log_level="warning",
        access_log=False,  # a line per request is the API's own cost under load; errors are still logged
    )


if __name__ == "__main__":
    main()
