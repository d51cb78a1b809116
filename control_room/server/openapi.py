"""The OpenAPI document of the REST door, built from the same table as the routes."""

from __future__ import annotations

import re
from typing import Any

from control_room import __version__
from control_room.server.rest import ENDPOINTS

ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}
ERRORS = {
    "400": "the body is not JSON",
    "401": "no token, or an unknown one",
    "403": "the token's role may not do this",
    "404": "no such task, or nothing to claim",
    "409": "conflict: taken, stale epoch, not the holder, or the wrong status",
    "413": "the body is too large",
    "431": "the request headers are too large (over 16 KB, or more than 100 headers)",
    "422": "a field is missing or wrong (named in the message)",
}


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for e in ENDPOINTS:
        operation: dict[str, Any] = {
            "operationId": e.handler.__name__,
            "summary": e.summary,
            "responses": {
                str(e.status): {"description": "success", "content": {"application/json": {}}},
                **{
                    code: {
                        "description": text,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    }
                    for code, text in ERRORS.items()
                },
            },
        }
        parameters = (
            [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in re.findall(r"{(\w+)}", e.path)
            ]
            + [
                {"name": name, "in": "query", "schema": dict(schema)}
                for name, schema in e.query.items()
            ]
            + [
                {"name": name, "in": "header", "schema": dict(schema)}
                for name, schema in e.headers.items()
            ]
        )
        if parameters:
            operation["parameters"] = parameters
        if e.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": dict(e.body)}},
            }
        operation["security"] = [{"bearer": []}] if e.roles else []
        paths.setdefault(e.path, {})[e.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Control Room", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
