"""Prometheus metrics: HTTP by route, plus the hooks sockets and jobs report through."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


class HttpStats(Collector):
    """Request counts and latencies in plain dicts, turned into metric families on scrape.

    prometheus-client's labelled Counter and Histogram take a lock and look up children on every
    update; on a cheap endpoint that is a measurable share of the request. The event loop is one
    thread, so plain integers suffice here.
    """

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], int] = {}
        self._latency: dict[tuple[str, str], list[float]] = {}  # bucket counts..., sum

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        self._counts[key] = self._counts.get(key, 0) + 1
        series = self._latency.get((route, method))
        if series is None:
            series = self._latency[(route, method)] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        series[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        series[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "http_requests",
            "HTTP requests by route, method and status.",
            labels=["route", "method", "status"],
        )
        for (route, method, status), count in self._counts.items():
            requests.add_metric([route, method, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "http_request_duration_seconds",
            "HTTP request latency by route.",
            labels=["route", "method"],
        )
        for (route, method), series in self._latency.items():
            cumulative = 0.0
            buckets: list[tuple[str, float]] = []
            for bound, in_bucket in zip((*LATENCY_BUCKETS, "+Inf"), series, strict=False):
                cumulative += in_bucket
                buckets.append((str(bound), cumulative))
            latency.add_metric([route, method], buckets, series[-1])
        yield latency


class Metrics:
    """One registry per application, so several apps in one process (tests) never clash."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http = HttpStats()
        self.registry.register(self.http)
        self.sockets_connected = Gauge(
            "socketio_connections", "Open Socket.IO connections.", registry=self.registry
        )
        self.socket_events = Counter(
            "socketio_events_total",
            "Socket.IO events by direction and type.",
            ["direction", "type"],
            registry=self.registry,
        )
        self.jobs = Counter(
            "jobs_total", "Jobs by task and outcome.", ["task", "outcome"], registry=self.registry
        )
        self.job_duration = Histogram(
            "job_duration_seconds", "Job run time by task.", ["task"], registry=self.registry
        )
        self.outbox_relayed = Counter(
            "outbox_relayed_total", "Outbox rows sent, by path.", ["path"], registry=self.registry
        )
        self.observe_request = self.http.observe
