"""The FastAPI application: routers per resource, structured errors, one ServiceContext per process."""

from __future__ import annotations

from fastapi import FastAPI

from framelane import __version__
from framelane.api.console.routes import install_console
from framelane.api.errors import CatchAllMiddleware, install_error_handlers
from framelane.api.openapi import install_openapi
from framelane.api.routes import admin, callbacks, health, sources, tasks, uploads, webhooks
from framelane.config import Settings, get_settings
from framelane.services.context import ServiceContext, build_context

DESCRIPTION = """Framelane is a video-AI task API: remove a video's background, redirect a presenter's gaze to the
camera, upscale a video 1–4×, or transcribe it. Every call but `/healthz` needs `Authorization: Bearer <api key>`.
Errors are `{"error": {"code", "message", "details"?}}`."""


def create_app(settings: Settings | None = None, ctx: ServiceContext | None = None) -> FastAPI:
    app = FastAPI(title="Framelane API", version=__version__, description=DESCRIPTION)
    app.state.ctx = ctx or build_context(settings or get_settings())
    install_error_handlers(app)
    app.add_middleware(CatchAllMiddleware)
    for module in (tasks, sources, webhooks, uploads, health, admin, callbacks):
        app.include_router(module.router)
    install_console(app, app.state.ctx)
    install_openapi(app)
    return app
