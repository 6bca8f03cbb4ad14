"""Strict booleans and times: what a JSON body and a query string may spell them as."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from server.http.fields import QUERY_CONTEXT, IsoDate, StrictBool, UtcDateTime


class Model(BaseModel):
    flag: StrictBool | None = None
    at: UtcDateTime | None = None
    day: IsoDate | None = None


def refused(data: dict[str, Any], context: dict[str, str] | None = None) -> str:
    with pytest.raises(ValidationError) as caught:
        Model.model_validate(data, context=context)
    return str(caught.value.errors()[0]["loc"][0])


@pytest.mark.parametrize("value", [0, 1, 0.0, "true", "false", "0", "yes", "on", "t"])
def test_a_body_boolean_is_only_true_or_false(value: Any) -> None:
    assert refused({"flag": value}) == "flag"


def test_a_body_boolean_true_or_false_is_read() -> None:
    assert Model.model_validate({"flag": True}).flag is True
    assert Model.model_validate({"flag": False}).flag is False


@pytest.mark.parametrize("value", ["0", "1", "0.5", "yes", "on", "True", "FALSE", ""])
def test_a_query_boolean_is_only_the_text_true_or_false(value: str) -> None:
    assert refused({"flag": value}, QUERY_CONTEXT) == "flag"


def test_a_query_boolean_reads_true_and_false() -> None:
    assert Model.model_validate({"flag": "true"}, context=QUERY_CONTEXT).flag is True
    assert Model.model_validate({"flag": "false"}, context=QUERY_CONTEXT).flag is False


@pytest.mark.parametrize(
    "value",
    [0, 0.5, 1_700_000_000, "0", "0.5", "1700000000", "2030-01-01", "2030-01-01T08:00:00", True],
)
@pytest.mark.parametrize("context", [None, QUERY_CONTEXT])
def test_a_time_is_an_iso_8601_string_with_an_offset_never_a_number(
    value: Any, context: dict[str, str] | None
) -> None:
    assert refused({"at": value}, context) == "at"


@pytest.mark.parametrize("value", ["2030-01-01T08:00:00+08:00", "2030-01-01T00:00:00Z"])
def test_a_time_with_an_offset_is_read_as_utc(value: str) -> None:
    at = Model.model_validate({"at": value}).at
    assert at == datetime(2030, 1, 1, tzinfo=UTC)
    assert at is not None and at.tzinfo == UTC


@pytest.mark.parametrize(
    "value", [0, 649_296_000, "649296000", "1990-07-30T00:00:00Z", "30/07/1990"]
)
def test_a_date_is_written_yyyy_mm_dd_never_a_number(value: Any) -> None:
    assert refused({"day": value}) == "day"


def test_a_date_is_read() -> None:
    assert Model.model_validate({"day": "1990-07-30"}).day == date(1990, 7, 30)
