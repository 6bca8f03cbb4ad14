"""The OpenAPI 3.1 document, built from the same pydantic schemas that validate requests."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter

from server import __version__
from server.http.errors import STATUS_DESCRIPTIONS
from server.http.registry import Route, RouteRegistry

REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_UNSAFE_NAME = re.compile(r"[^a-zA-Z0-9._-]")


class ErrorBody(BaseModel):
    code: str = Field(examples=["wallet.insufficient_funds"])
    message: str
    fields: dict[str, str] | None = Field(
        default=None, description="Per-field messages, for validation errors only."
    )


class ErrorEnvelope(BaseModel):
    """Every failure, whatever its status."""

    error: ErrorBody


class _Components:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def schema_for(self, annotation: Any, mode: str = "validation") -> dict[str, Any]:
        schema = TypeAdapter(annotation).json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
        self.schemas.update(schema.pop("$defs", {}))
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            name = component_name(annotation)
            self.schemas[name] = schema
            return {"$ref": REF.format(model=name)}
        return schema


def component_name(model: type[BaseModel]) -> str:
    """OpenAPI allows [a-zA-Z0-9._-] in component names; generics like Page[Item] have more."""
    return _UNSAFE_NAME.sub("_", model.__name__)


def _parameters(components: _Components, model: type[BaseModel], where: str) -> list[Any]:
    schema = components.schema_for(model)
    target = components.schemas.get(component_name(model), schema)
    required = set(target.get("required", []))
    params = []
    for name, prop in target.get("properties", {}).items():
        param: dict[str, Any] = {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
            "schema": {k: v for k, v in prop.items() if k != "description"},
        }
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    # Parameter models are inlined, not components of their own.
    components.schemas.pop(component_name(model), None)
    return params


def _operation(components: _Components, route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
    }
    if route.description:
        op["description"] = route.description
    params: list[Any] = []
    if route.params is not None:
        params += _parameters(components, route.params, "path")
    if route.query is not None:
        params += _parameters(components, route.query, "query")
    if route.idempotent:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 191},
                "description": "Repeats with the same key return the first response (24 h).",
            }
        )
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": components.schema_for(route.body)}},
        }
    responses: dict[str, Any] = {}
    if route.status == 204 or route.response is None:
        responses[str(route.status)] = {"description": "Done"}
    else:
        schema = components.schema_for(route.response, "serialization")
        responses[str(route.status)] = {
            "description": "Success",
            "content": {"application/json": {"schema": schema}},
        }
    error_ref = {"$ref": REF.format(model="ErrorEnvelope")}
    for status in route.statuses():
        response: dict[str, Any] = {
            "description": STATUS_DESCRIPTIONS.get(status, "Error"),
            "content": {"application/json": {"schema": error_ref}},
        }
        if status in (429, 503):
            response["headers"] = {
                "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
            }
        responses[str(status)] = response
    for status, answer in route.answers.items():
        content = {
            media_type: {"schema": components.schema_for(annotation, "serialization")}
            for media_type, annotation in answer.content.items()
        }
        responses[str(status)] = {"description": answer.description, "content": content}
    op["responses"] = dict(sorted(responses.items()))
    if route.auth == "optional":
        op["security"] = [{}, {"bearer": []}]
    elif route.auth:
        op["security"] = [{"bearer": []}]
    return op


def build_openapi(registry: RouteRegistry, *, title: str = "ShareStack API") -> dict[str, Any]:
    components = _Components()
    components.schema_for(ErrorEnvelope)
    paths: dict[str, dict[str, Any]] = {}
    for route in registry.routes:
        path = _PATH_PARAM.sub(r"{\1}", route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(components, route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": __version__,
            "description": 'Every failure answers `{"error": {"code", "message", "fields"?}}`.',
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": table.tag, "description": table.description} for table in registry.tables
        ],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.schemas.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
