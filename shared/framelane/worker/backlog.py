"""The renderer backlog per task type: what autoscaling and alarms watch."""

from __future__ import annotations

from framelane.models import TaskType
from framelane.services.context import ServiceContext


def stream_backlog(ctx: ServiceContext) -> dict[str, int]:
    if ctx.broker is None:
        return {}
    return {t.value: ctx.broker.backlog(t) for t in TaskType if t.is_renderer}
