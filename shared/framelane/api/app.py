"""The FastAPI application: routers per resource, structured errors, one ServiceContext per process."""

from __future__ import annotations

import os

from fastapi import FastAPI

from framelane import __version__
from framelane.api.console.routes import install_console
from framelane.api.errors import ERROR_RESPONSES, CatchAllMiddleware, install_error_handlers
from framelane.api.openapi import install_openapi
from framelane.api.rate_headers import RateLimitHeadersMiddleware
from framelane.api.refusals import HOLD_SECONDS, KnownRefusals, KnownRefusalsMiddleware
from framelane.api.routes import admin, callbacks, health, sources, tasks, uploads, webhooks, workspace
from framelane.config import Settings, get_settings
from framelane.services.context import ServiceContext, build_context

DESCRIPTION = """Framelane is a video-AI task API: remove a video's background, redirect a presenter's gaze to the
camera, upscale a video 1–4×, or transcribe it. Every call but `/healthz` needs `Authorization: Bearer <api key>`.
Errors are `{"error": {"code", "message", "details"?}}`.

Rate limits, per workspace: task creations and all other requests have separate token buckets (defaults 600
creations and 3,000 other requests per minute, with bursts). Every response to an authenticated request carries
`RateLimit-Limit` (the bucket's size), `RateLimit-Remaining` and `RateLimit-Reset` (seconds until the bucket is
full). Past the limit the answer is **429** `rate_limited` with `Retry-After` (seconds); a request sent again
before then may be held up to 0.25 s before it is answered (admitted if its token is back by then). Renders and
transcriptions beyond the workspace's concurrency quota are accepted and stay `queued` until a slot frees;
`GET /v1/workspace` shows the limits and the current usage."""


def create_app(settings: Settings | None = None, ctx: ServiceContext | None = None) -> FastAPI:
    app = FastAPI(
        title="Framelane API",
        version=__version__,
        description=DESCRIPTION,
        responses={429: ERROR_RESPONSES[429]},
    )
    app.state.ctx = ctx or build_context(settings or get_settings())
    app.state.known_refusals = KnownRefusals()
    install_error_handlers(app)
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(
        KnownRefusalsMiddleware,
        ctx=app.state.ctx,
        known=app.state.known_refusals,
        hold_seconds=0 if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") else HOLD_SECONDS,  # refusals.py: why
    )
    app.add_middleware(RateLimitHeadersMiddleware)
    for module in (tasks, sources, webhooks, uploads, workspace, health, admin, callbacks):
        app.include_router(module.router)
    install_console(app, app.state.ctx)
    install_openapi(app)
    return app
