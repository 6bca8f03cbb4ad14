"""Health, readiness and metrics: what operators and orchestrators rely on."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.env import make_settings
from tests.helpers.http import with_header_auth
from tests.server.http import probe

CLOSED_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


async def test_healthz_answers_ok(client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}
    assert response.headers["X-Request-ID"]


async def test_readyz_reports_database_and_redis_ok_in_production_mode(client) -> None:
    response = await client.get("/readyz")
    assert response.status == 200
    assert await response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok"},
    }


async def test_app_starts_with_redis_down_and_readyz_says_503(make_client, database_url) -> None:
    client = await make_client(make_settings(database_url=database_url, redis_url=CLOSED_REDIS))
    health = await client.get("/healthz")
    assert health.status == 200

    response = await client.get("/readyz")
    assert response.status == 503
    assert await response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "redis": "unavailable"},
    }


def scrape(text: str) -> dict[str, list]:
    """Samples by metric family name (counters lose their `_total` suffix in the parser)."""
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


async def test_metrics_count_requests_by_route_template_and_status(probe_client) -> None:
    for item_id in (3, 4, 5):
        assert (await probe_client.get(f"/api/v1/probe/items/{item_id}")).status == 200
    assert (await probe_client.get("/api/v1/probe/items/0")).status == 422

    response = await probe_client.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    text = await response.text()
    families = scrape(text)

    template = "/api/v1/probe/items/{item_id}"
    counts = {
        (s.labels["route"], s.labels["method"], s.labels["status"]): s.value
        for s in families["http_requests"]
        if s.name == "http_requests_total"
    }
    assert counts[(template, "GET", "200")] == 3
    assert counts[(template, "GET", "422")] == 1
    assert not any(
        route.startswith("/api/v1/probe/items/") and route != template for route, _, _ in counts
    ), "concrete paths must not become label values"
    assert "/api/v1/probe/items/3" not in text


async def test_metrics_expose_a_consistent_latency_histogram(probe_client) -> None:
    for item_id in (1, 2):
        await probe_client.get(f"/api/v1/probe/items/{item_id}")
    families = scrape(await (await probe_client.get("/metrics")).text())

    template = "/api/v1/probe/items/{item_id}"
    samples = [
        s for s in families["http_request_duration_seconds"] if s.labels.get("route") == template
    ]
    buckets = [(s.labels["le"], s.value) for s in samples if s.name.endswith("_bucket")]
    count = next(s.value for s in samples if s.name.endswith("_count"))
    total = next(s.value for s in samples if s.name.endswith("_sum"))
    assert count == 2
    assert total > 0
    assert buckets[-1] == ("+Inf", 2)
    bounds = [float(le) for le, _ in buckets]
    assert bounds == sorted(bounds) and math.isinf(bounds[-1])
    values = [value for _, value in buckets]
    assert values == sorted(values), "buckets are cumulative"


async def test_metrics_declare_the_socket_and_job_families(client) -> None:
    text = await (await client.get("/metrics")).text()
    for family, kind in (
        ("socketio_connections", "gauge"),
        ("socketio_events_total", "counter"),
        ("jobs_total", "counter"),
        ("job_duration_seconds", "histogram"),
        ("outbox_relayed_total", "counter"),
        ("http_requests_total", "counter"),
        ("http_request_duration_seconds", "histogram"),
    ):
        assert f"# TYPE {family} {kind}" in text, family


@pytest.mark.usefixtures("fresh_rate_window")
async def test_health_endpoints_are_exempt_from_the_per_ip_rate_limit(
    make_client, database_url
) -> None:
    client = await make_client(
        make_settings(database_url=database_url, rate_limit_ip="2/minute"),
        extra_tables=[probe.routes],
        configure=with_header_auth,
    )
    statuses = [(await client.get("/api/v1/meta")).status for _ in range(2)]
    assert statuses == [200, 200]

    for path in ("/healthz", "/readyz", "/metrics"):
        for _ in range(5):
            assert (await client.get(path)).status == 200, path

    limited = await client.get("/api/v1/meta")
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) >= 1
    body = await limited.json()
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["message"]
    assert limited.headers["X-Request-ID"]
