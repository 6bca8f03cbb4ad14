"""Structured JSON logs: one object per line, UTC timestamps, no secrets, one line per request."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import structlog
from structlog.testing import capture_logs

from server.logs import REDACTED_KEYS, configure_logging, redact
from tests.helpers.env import make_settings
from tests.helpers.http import with_header_auth
from tests.server.http import probe


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put structlog and logging back after."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    structlog.configure(**saved)
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def json_lines(out: str) -> list[dict]:
    lines = [line for line in out.splitlines() if line.strip()]
    return [orjson.loads(line) for line in lines]


def test_json_logs_are_one_object_per_line_with_level_timestamp_and_event(
    restore_logging, capfd
) -> None:
    configure_logging("INFO", "json")
    log = structlog.get_logger("test.logs")
    before = datetime.now(UTC)
    log.info("first.event", answer=42)
    log.warning("second.event", detail="line\nbreak")
    after = datetime.now(UTC)

    out, _ = capfd.readouterr()
    events = json_lines(out)
    assert len(out.strip().splitlines()) == 2, "one line per event, newlines escaped"
    assert [e["event"] for e in events] == ["first.event", "second.event"]
    assert [e["level"] for e in events] == ["info", "warning"]
    assert events[0]["answer"] == 42
    assert events[1]["detail"] == "line\nbreak"
    for event in events:
        assert event["timestamp"].endswith("Z")
        stamp = datetime.fromisoformat(event["timestamp"])
        assert stamp.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=1) <= stamp <= after + timedelta(seconds=1)


def test_json_logs_drop_events_below_the_configured_level(restore_logging, capfd) -> None:
    configure_logging("WARNING", "json")
    log = structlog.get_logger("test.logs")
    log.debug("too.quiet")
    log.info("still.too.quiet")
    log.error("loud.enough")
    events = json_lines(capfd.readouterr().out)
    assert [e["event"] for e in events] == ["loud.enough"]


def test_json_logs_carry_exceptions_as_text(restore_logging, capfd) -> None:
    configure_logging("INFO", "json")
    log = structlog.get_logger("test.logs")
    try:
        raise ValueError("broken on purpose")
    except ValueError:
        log.exception("it.failed")
    (event,) = json_lines(capfd.readouterr().out)
    assert event["level"] == "error"
    assert "ValueError: broken on purpose" in event["exception"]


def test_json_logs_redact_secrets_in_the_output(restore_logging, capfd) -> None:
    configure_logging("INFO", "json")
    structlog.get_logger("test.logs").info(
        "user.login", password="hunter2", email="ann@example.com", user_id=7
    )
    out = capfd.readouterr().out
    (event,) = json_lines(out)
    assert event["password"] == "[redacted]"
    assert event["email"] == "[redacted]"
    assert event["user_id"] == 7
    assert "hunter2" not in out and "ann@example.com" not in out


@pytest.mark.parametrize(
    "key", ["password", "token", "authorization", "email", "phone", "access_token", "secret"]
)
def test_redact_replaces_sensitive_values(key: str) -> None:
    event = redact(None, "info", {"event": "x", key: "sensitive-value", "user_id": 7})
    assert event == {"event": "x", key: "[redacted]", "user_id": 7}


def test_redact_covers_the_listed_keys_and_leaves_others_alone() -> None:
    assert {"password", "token", "authorization", "email", "phone"} <= REDACTED_KEYS
    event = {"event": "order.paid", "order_id": 5, "amount": 100, "level": "info"}
    assert redact(None, "info", dict(event)) == event


def test_redact_replaces_sensitive_values_nested_in_dicts_and_lists() -> None:
    event = redact(
        None,
        "info",
        {
            "event": "x",
            "user": {"id": 7, "email": "ann@example.com"},
            "attempts": [{"password": "hunter2"}],
        },
    )
    assert event["user"] == {"id": 7, "email": "[redacted]"}
    assert event["attempts"] == [{"password": "[redacted]"}]


@pytest.fixture
async def logged_client(make_client, database_url):
    return await make_client(
        make_settings(database_url=database_url, log_level="INFO"),
        extra_tables=[probe.routes],
        configure=with_header_auth,
    )


async def test_each_request_logs_one_http_request_event(logged_client) -> None:
    with capture_logs() as logs:
        response = await logged_client.get(
            "/api/v1/probe/items/7", params={"token": "query-secret", "q": "hunter2"}
        )
    assert response.status == 200
    requests = [entry for entry in logs if entry["event"] == "http.request"]
    assert len(requests) == 1
    entry = requests[0]
    assert entry["log_level"] == "info"
    assert entry["request_id"] == response.headers["X-Request-ID"]
    assert entry["method"] == "GET"
    assert entry["route"] == "/api/v1/probe/items/{item_id}"
    assert entry["status"] == 200
    assert isinstance(entry["ms"], float | int) and entry["ms"] >= 0
    text = repr(logs)
    assert "query-secret" not in text and "hunter2" not in text
    assert "/api/v1/probe/items/7" not in text


async def test_request_log_uses_the_client_request_id_when_it_is_safe(logged_client) -> None:
    with capture_logs() as logs:
        response = await logged_client.get("/healthz", headers={"X-Request-ID": "abc-12345678"})
    assert response.headers["X-Request-ID"] == "abc-12345678"
    (entry,) = [e for e in logs if e["event"] == "http.request"]
    assert entry["request_id"] == "abc-12345678"


async def test_failed_requests_are_logged_with_their_status(logged_client) -> None:
    with capture_logs() as logs:
        missing = await logged_client.get("/api/v1/nothing/here")
        boom = await logged_client.get("/api/v1/probe/boom")
    assert (missing.status, boom.status) == (404, 500)
    entries = {e["status"]: e for e in logs if e["event"] == "http.request"}
    assert set(entries) == {404, 500}
    assert entries[404]["route"] != "/api/v1/nothing/here"
    assert entries[500]["route"] == "/api/v1/probe/boom"
    assert entries[500]["request_id"] == boom.headers["X-Request-ID"]
    unhandled = [e for e in logs if e["event"] == "http.unhandled"]
    assert len(unhandled) == 1
    assert unhandled[0]["request_id"] == boom.headers["X-Request-ID"]
