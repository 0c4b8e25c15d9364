"""The OpenAPI document as the API really behaves, applied over every route (so new routes fit without edits).

FastAPI documents what a route declares; what the app adds around the routes is added here: every 422 is our
`ErrorResponse` (FastAPI's default `HTTPValidationError` is never sent), a body that cannot be parsed is a 400,
a cursor that the API did not issue is a 400, and links from each created resource to the operations on it
(so a client, or a stateful fuzzer, can follow a created task to get, cancel and transcript). A 405 names every
method the path supports, not only those of the route that matched first.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from framelane.api.errors import error_response

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_PATH_PARAMETER = re.compile(r"\{([^}]+)\}")
_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def install_openapi(app: FastAPI) -> None:
    """Serve the completed document, and answer 405 with the path's full `Allow` list."""

    generate = app.openapi  # FastAPI's own, with every setting of the app

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete_document(generate())
        return app.openapi_schema

    async def method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
        detail = exc.detail if isinstance(exc, StarletteHTTPException) else "Method Not Allowed"
        response = error_response(405, "method_not_allowed", str(detail))
        response.headers["Allow"] = ", ".join(allowed_methods(app, request.scope))
        return response

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_exception_handler(405, method_not_allowed)


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route answers at this path: Starlette's own 405 names only the first route's."""
    return [
        method
        for method in _METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in app.router.routes)
    ]


def complete_document(document: dict[str, Any]) -> dict[str, Any]:
    operations = [
        (path, method, operation)
        for path, item in document.get("paths", {}).items()
        for method, operation in item.items()
    ]
    for _, _, operation in operations:
        responses: dict[str, Any] = operation.setdefault("responses", {})
        if _is_fastapi_validation_error(responses.get("422")):
            responses["422"] = {"description": "Validation error.", "content": _ERROR}
        if "requestBody" in operation:
            _add_400(responses, "The body is not JSON in UTF-8 (`bad_request`).")
        if any(p.get("in") == "query" and p.get("name") == "cursor" for p in operation.get("parameters", [])):
            _add_400(responses, "The cursor was not issued by this API for this query (`invalid_cursor`).")
    for path, method, operation in operations:
        _add_links(document, path, method, operation, operations)
    schemas = document.get("components", {}).get("schemas", {})
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    return document


def _is_fastapi_validation_error(response: dict[str, Any] | None) -> bool:
    schema = (response or {}).get("content", {}).get("application/json", {}).get("schema", {})
    return str(schema.get("$ref", "")).endswith("/HTTPValidationError")


def _add_400(responses: dict[str, Any], reason: str) -> None:
    existing = responses.get("400")
    description = reason if existing is None else f"{existing['description']} {reason}"
    responses["400"] = {"description": description, "content": _ERROR}


def _add_links(
    document: dict[str, Any],
    path: str,
    method: str,
    operation: dict[str, Any],
    operations: list[tuple[str, str, dict[str, Any]]],
) -> None:
    """A created resource (a POST without path parameters answering 2xx with an `id`) links to every operation
    on `{collection}/{id}…`, the collection being the POST's path or, for `/v1/tasks/gaze-redirect`, its parent."""
    if method != "post" or _PATH_PARAMETER.search(path):
        return
    collections = {path, path.rsplit("/", 1)[0]}
    targets = []
    for other_path, other_method, other in operations:
        names = _PATH_PARAMETER.findall(other_path)
        if len(names) == 1 and other_path.split("/{", 1)[0] in collections:
            targets.append((other_method, other, names[0]))
    for status, response in operation.get("responses", {}).items():
        if not status.startswith("2") or not targets:
            continue
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        if "id" not in _resolve(document, schema).get("properties", {}):
            continue
        response["links"] = {
            other["operationId"]: {
                "operationId": other["operationId"],
                "parameters": {name: "$response.body#/id"},
                "description": f"{other_method.upper()} the created resource.",
            }
            for other_method, other, name in targets
        }


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    if not isinstance(reference, str) or not reference.startswith("#/components/schemas/"):
        return schema
    resolved: dict[str, Any] = document["components"]["schemas"][reference.rsplit("/", 1)[1]]
    return resolved
