"""Turning pydantic validation errors into the `fields` of a 422."""

from __future__ import annotations

from pydantic import ValidationError

from server.http.errors import ValidationFailed


def field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def validation_error(exc: ValidationError, prefix: str | None = None) -> ValidationFailed:
    """A 422 naming each bad field; a validator that raised `PydanticCustomError` with a dotted
    API code as its type (e.g. `users.nickname_invalid`) gives the response that code."""
    fields: dict[str, str] = {}
    code: str | None = None
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = (prefix, *err["loc"]) if prefix else tuple(err["loc"])
        fields.setdefault(field_path(loc), err["msg"])
        if code is None and "." in err["type"]:
            code = err["type"]
    return ValidationFailed(code=code, fields=fields)
