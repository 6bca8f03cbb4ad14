"""Prometheus metrics: HTTP by route, plus the hooks sockets and jobs report through."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """One registry per application, so several apps in one process (tests) never clash."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "http_requests_total",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route.",
            ["route", "method"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
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
        self._children: dict[tuple[str, str], tuple[Histogram, dict[int, Counter]]] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        # Cached label children: `.labels()` is the costly part on the hot path.
        key = (route, method)
        entry = self._children.get(key)
        if entry is None:
            entry = (self.http_latency.labels(route, method), {})
            self._children[key] = entry
        latency, counters = entry
        counter = counters.get(status)
        if counter is None:
            counter = counters[status] = self.http_requests.labels(route, method, str(status))
        latency.observe(seconds)
        counter.inc()
