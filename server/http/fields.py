"""Strict scalar types for request schemas: a boolean is a boolean, a time is an ISO 8601 string.

pydantic's lax mode reads `0` and `"0"` as false, `0.5` as a Unix time and `0` as 1970-01-01;
a client that sends those has a bug we should tell it about, not guess around. JSON bodies give
booleans as `true`/`false`, times as strings with a UTC offset (`2030-01-01T08:00:00+08:00`,
`...Z`) and dates as `YYYY-MM-DD`.
Query strings carry only text, so there a boolean is spelled `true` or `false`: the registry
validates query and path models with `QUERY_CONTEXT`, which lets those two strings through.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, ValidationInfo
from pydantic_core import PydanticCustomError

# Passed as the validation context of models read from the query string or the path.
QUERY_CONTEXT = {"source": "query"}
_QUERY_BOOLS = {"true": True, "false": False}
# A calendar date, 'T' (or a space), hours and minutes: what ISO 8601 and RFC 3339 write.
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _from_query(info: ValidationInfo) -> bool:
    context = info.context
    return isinstance(context, dict) and context.get("source") == QUERY_CONTEXT["source"]


def _strict_bool(value: Any, info: ValidationInfo) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and _from_query(info) and value in _QUERY_BOOLS:
        return _QUERY_BOOLS[value]
    raise PydanticCustomError("bool_type", "Input should be true or false")


def _iso_datetime(value: Any) -> Any:
    if isinstance(value, datetime):  # built in code, not parsed from a request
        return value
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        # Parsed here: bodies are validated strictly, where only a datetime object passes on.
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError(
        "datetime_type",
        "Input should be an ISO 8601 date and time with a UTC offset, e.g. 2030-01-01T00:00:00Z",
    )


def _iso_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError("date_type", "Input should be an ISO 8601 date, e.g. 1990-07-30")


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


StrictBool = Annotated[bool, BeforeValidator(_strict_bool)]
"""`true` or `false` (in a query string: the text `true` or `false`); never 0, 1 or "yes"."""

UtcDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_datetime), AfterValidator(_utc)]
"""An ISO 8601 date-time string with a UTC offset, converted to UTC; never a number."""

IsoDate = Annotated[date, BeforeValidator(_iso_date)]
"""A calendar date written YYYY-MM-DD; never a number of seconds."""
