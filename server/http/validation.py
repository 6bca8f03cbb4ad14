"""Turning pydantic validation errors into the `fields` of a 422."""

from __future__ import annotations

from pydantic import ValidationError

from server.http.errors import ValidationFailed


def field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def validation_error(exc: ValidationError, prefix: str | None = None) -> ValidationFailed:
    fields: dict[str, str] = {}
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = (prefix, *err["loc"]) if prefix else tuple(err["loc"])
        fields.setdefault(field_path(loc), err["msg"])
    return ValidationFailed(fields=fields)
