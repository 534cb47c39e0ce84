"""Prometheus metrics of one service instance, in a registry of its own (no global state)."""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

__all__ = ["TOKEN_ROUTE", "Metrics"]

TOKEN_ROUTE = "/statuslists/{list_id}"  # noqa: S105 - a route, not a secret

_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_LAG = (0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # process_resident_memory_bytes, process_cpu_seconds_total, open fds (Linux /proc).
        ProcessCollector(registry=r)
        self.requests = Counter(
            "statuslist_http_requests", "HTTP requests", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "statuslist_http_request_duration_seconds",
            "HTTP request latency",
            ["route"],
            buckets=_LATENCY,
            registry=r,
        )
        self.entries_updated = Counter(
            "statuslist_entries_updated",
            "Status entries written, by new status value (revocations are status 1)",
            ["status"],
            registry=r,
        )
        self.write_retries = Counter(
            "statuslist_write_retries",
            "Write batches submitted again after another instance changed their list meanwhile",
            registry=r,
        )
        self.allocated = Counter("statuslist_entries_allocated", "Entries allocated", registry=r)
        self.publishes = Counter("statuslist_publishes", "Tokens signed and published", registry=r)
        self.publish_lag = Histogram(
            "statuslist_publish_lag_seconds",
            "From the first durable change not yet published to the token showing it",
            buckets=_LAG,
            registry=r,
        )
        self.publish_duration = Histogram(
            "statuslist_publish_duration_seconds",
            "One publishing round: snapshot, encode, sign, persist",
            buckets=_LATENCY,
            registry=r,
        )
        self.publish_failures = Counter(
            "statuslist_publish_failures",
            "Publishing rounds that failed (retried at the next interval)",
            registry=r,
        )
        self.ready = Gauge(
            "statuslist_ready",
            "1 when /readyz would answer ready or degraded, 0 when not ready (at scrape time)",
            registry=r,
        )
        self.degraded = Gauge(
            "statuslist_degraded",
            "Reasons this instance serves while something is wrong (at scrape time)",
            registry=r,
        )
        self.damaged_lists = Gauge(
            "statuslist_damaged_lists",
            "Lists not served: failed their integrity checks",
            registry=r,
        )
        self.lists = Gauge("statuslist_lists", "Status lists loaded", registry=r)
        self.leading = Gauge(
            "statuslist_publisher_leading",
            "1 while this instance is the one that publishes (always, with SQLite)",
            registry=r,
        )
        self.list_entries = Gauge(
            "statuslist_list_entries", "Entries over all loaded lists", registry=r
        )
        self.list_bytes = Gauge(
            "statuslist_list_bitmap_bytes", "Bitmap bytes over all loaded lists", registry=r
        )
        self.commits = Gauge(
            "statuslist_storage_commits", "Storage transactions committed (fsyncs)", registry=r
        )
        self.writes = Gauge(
            "statuslist_storage_writes", "Writes committed (many share one commit)", registry=r
        )

        self._per_request: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._token_answers: dict[int, int] = {}

    def request_done(self, route: str, method: str, status: int, seconds: float) -> None:
        """Counts one request and observes its latency; the labelled children are looked up
        once per (route, method, status), not per request."""
        key = (route, method, status)
        pair = self._per_request.get(key)
        if pair is None:
            if len(self._per_request) >= 10_000:  # routes and methods are few; bound it anyway
                self._per_request.clear()
            pair = (self.requests.labels(route, method, str(status)), self.latency.labels(route))
            self._per_request[key] = pair
        pair[0].inc()
        pair[1].observe(seconds)

    def token_answer(self, status: int) -> None:
        """Counts a token GET answered from the cache: a dict increment, folded into
        ``statuslist_http_requests`` at the next scrape (their latency is the framework's, and
        is not observed)."""
        self._token_answers[status] = self._token_answers.get(status, 0) + 1

    def render(self) -> bytes:
        answers, self._token_answers = self._token_answers, {}
        for status, n in answers.items():
            self.requests.labels(TOKEN_ROUTE, "GET", str(status)).inc(n)
        return generate_latest(self.registry)
