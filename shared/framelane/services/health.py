"""Readiness: can this process reach its stores?"""

from __future__ import annotations

from collections.abc import Callable

from framelane.models import Health
from framelane.services.context import ServiceContext


def check_health(ctx: ServiceContext) -> Health:
    probes: dict[str, Callable[[], None]] = {"dynamodb": ctx.store.ping, "s3": ctx.blobs.ping}
    if ctx.broker is not None:
        probes["redis"] = ctx.broker.ping
    checks: dict[str, str] = {}
    for name, probe in probes.items():
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not reachable"; the kind goes in the report
            checks[name] = f"error: {type(exc).__name__}"
    return Health(status="ok" if all(v == "ok" for v in checks.values()) else "degraded", checks=checks)
