"""GET / and /console: server-rendered pages; the browser then talks to /v1 with the key as a header."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from framelane import __version__
from framelane.api.console.forms import task_forms
from framelane.models import TaskStatus, TaskType
from framelane.services.context import ServiceContext

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)


def _code_spans(text: str) -> Markup:
    """Schema descriptions mark code with backticks: escape everything, then wrap those parts in <code>."""
    parts = re.split(r"`([^`]*)`", text)
    return Markup("").join(
        Markup("<code>{}</code>").format(part) if i % 2 else escape(part) for i, part in enumerate(parts)
    )


templates.env.filters["code_spans"] = _code_spans


def _page(request: Request) -> dict[str, str]:
    """Links are relative to the app's root path (API Gateway stages mount it under a prefix)."""
    return {"version": __version__, "root": str(request.scope.get("root_path", "")).rstrip("/")}


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "index.html", _page(request))


@router.get("/console", response_class=HTMLResponse)
def console(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "console.html",
        {
            **_page(request),
            "forms": task_forms(),
            "task_types": [t.value for t in TaskType],
            "statuses": [s.value for s in TaskStatus],
        },
    )


def content_security_policy(ctx: ServiceContext) -> str:
    """No inline script or style anywhere; media and uploads may reach the bucket's origin only."""
    probe = urlsplit(ctx.blobs.presigned_get("console/origin-probe", expires_in=60))
    store = f"{probe.scheme}://{probe.netloc}"
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: blob: {store}",
            f"media-src 'self' blob: {store}",
            f"connect-src 'self' {store}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class ConsoleSecurityHeaders:
    """Adds the CSP and friends to the console's pages and assets (not to /docs, which loads its own).

    The policy names the bucket's origin, learnt from a presigned URL on the first console request (signing
    needs credentials, which a process that never serves the console may not have)."""

    def __init__(self, app: ASGIApp, ctx: ServiceContext) -> None:
        self.app = app
        self.ctx = ctx
        self.headers: list[tuple[bytes, bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != "/" and not path.startswith("/console"):
            await self.app(scope, receive, send)
            return
        if not self.headers:
            self.headers = [
                (b"content-security-policy", content_security_policy(self.ctx).encode()),
                (b"x-content-type-options", b"nosniff"),
                (b"referrer-policy", b"no-referrer"),
                (b"x-frame-options", b"DENY"),
            ]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, with_headers)


def install_console(app: FastAPI, ctx: ServiceContext) -> None:
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_middleware(ConsoleSecurityHeaders, ctx=ctx)
