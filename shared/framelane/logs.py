"""The one service logger of a process; every module logs through a child of it.

Children share the parent's handler, so a line logged anywhere (a service, an adapter) carries what the Lambda
handler injected into the parent (request id, cold start) and the keys appended to it. Importing this module
is what creates the parent: a child logger made before its parent would log through nothing.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

# Each Lambda gets its own POWERTOOLS_SERVICE_NAME from the stack; the worker and the local stack use "framelane".
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "framelane"

service_logger = Logger(service=SERVICE)
