"""Every failure leaves as `{"error": {"code", "message", "details"?}}`; never a stack trace."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from framelane.errors import (
    FramelaneError,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidCursor,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    SourceNotReady,
    TaskNotCancellable,
    TranscriptNotReady,
    Unauthorized,
)
from framelane.logs import SERVICE
from framelane.models import ErrorBody, ErrorDetail, ErrorResponse

logger = Logger(service=SERVICE, child=True)

# The HTTP status of each domain error; a subclass not listed takes its nearest listed base's (else 400).
DOMAIN_STATUS: dict[type[FramelaneError], int] = {
    FramelaneError: 400,
    InvalidCursor: 400,
    Unauthorized: 401,
    NotFound: 404,
    IdempotencyInProgress: 409,
    TaskNotCancellable: 409,
    SourceNotReady: 409,
    TranscriptNotReady: 409,
    InvalidRequest: 422,
    IdempotencyKeyReused: 422,
    RateLimited: 429,
    ServiceUnavailable: 503,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Bad request (e.g. an invalid cursor).",
        401: "Missing or invalid API key.",
        404: "Not found (a task of another workspace is also 404).",
        409: "Conflict.",
        422: "Validation error.",
    }.items()
}
ERROR_RESPONSES[429] = {
    "model": ErrorResponse,
    "description": "Rate limited: the workspace's request bucket is empty; retry after `Retry-After` seconds.",
    "headers": {
        "Retry-After": {"description": "Seconds until a request is admitted.", "schema": {"type": "integer"}},
        "RateLimit-Limit": {"description": "The bucket's size (burst).", "schema": {"type": "integer"}},
        "RateLimit-Remaining": {"description": "Requests left in the bucket.", "schema": {"type": "integer"}},
        "RateLimit-Reset": {
            "description": "Seconds until the bucket is full.",
            "schema": {"type": "integer"},
        },
    },
}


def domain_status(exc: FramelaneError) -> int:
    return next(DOMAIN_STATUS[cls] for cls in type(exc).__mro__ if cls in DOMAIN_STATUS)


def error_response(
    status: int, code: str, message: str, details: list[ErrorDetail] | None = None
) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(code=code, message=message, details=details))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        status_code=status, content=body.model_dump(mode="json", exclude_none=True), headers=headers
    )


def _validation_details(exc: RequestValidationError) -> list[ErrorDetail]:
    return [
        ErrorDetail(
            loc=[part if isinstance(part, int) else str(part) for part in err.get("loc", ())],
            msg=str(err.get("msg", "")),
            type=str(err.get("type", "")),
        )
        for err in jsonable_encoder(exc.errors())
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FramelaneError)
    async def domain_error(_: Request, exc: FramelaneError) -> JSONResponse:
        return error_response(domain_status(exc), exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        first = details[0] if details else None
        where = ".".join(str(p) for p in first.loc) if first else "request"
        message = f"{where}: {first.msg}" if first else "request is invalid"
        return error_response(422, "validation_error", message, details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, code, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response


class CatchAllMiddleware:
    """Turns an unexpected exception into a structured 500 instead of letting it escape (and re-raise)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception(
                "unhandled error", extra={"path": scope.get("path"), "method": scope.get("method")}
            )
            if started:
                raise
            response = error_response(500, "internal_error", "internal error; the request was not completed")
            await response(scope, receive, send)
