"""Figures of a load test: a bounded latency histogram and per-operation counters."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Histogram", "OpStats", "percentile"]

_FLOOR = 1e-6  # seconds; anything faster lands in bucket 0
_GROWTH = 1.01  # bucket width: 1 % of the value, so quantiles are within 1 % of the true ones
_LOG_GROWTH = math.log(_GROWTH)


class Histogram:
    """Log-bucketed durations: memory bounded by the value range (about 2,300 buckets from 1 µs
    to 10,000 s), not by the number of observations; quantiles within 1 %; exact count, sum, max.
    """

    __slots__ = ("_buckets", "count", "max", "min", "total")

    def __init__(self) -> None:
        self._buckets: Counter[int] = Counter()
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self.min = math.inf

    @staticmethod
    def _bucket(seconds: float) -> int:
        if seconds <= _FLOOR:
            return 0
        return 1 + int(math.log(seconds / _FLOOR) / _LOG_GROWTH)

    def add(self, seconds: float) -> None:
        self._buckets[self._bucket(seconds)] += 1
        self.count += 1
        self.total += seconds
        self.max = max(self.max, seconds)
        self.min = min(self.min, seconds)

    def quantile(self, q: float) -> float:
        """The nearest-rank ``q``-quantile (0 < q <= 1), as the geometric middle of its bucket,
        clamped to the observed min and max; 0.0 when empty."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for bucket in sorted(self._buckets):
            seen += self._buckets[bucket]
            if seen >= rank:
                if bucket == 0:
                    return min(self.max, _FLOOR)
                middle: float = _FLOOR * _GROWTH ** (bucket - 0.5)
                return min(max(middle, self.min), self.max)
        return self.max  # pragma: no cover - the ranks add up to count

    def summary_ms(self) -> dict[str, float]:
        if not self.count:
            return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
        return {
            "p50": round(self.quantile(0.50) * 1e3, 3),
            "p90": round(self.quantile(0.90) * 1e3, 3),
            "p99": round(self.quantile(0.99) * 1e3, 3),
            "max": round(self.max * 1e3, 3),
            "mean": round(self.total / self.count * 1e3, 3),
        }


def percentile(values: list[float], q: float) -> float:
    """Exact nearest-rank quantile of a small sample (publish lag)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@dataclass(slots=True)
class OpStats:
    """One kind of request: successes (with their latency), failures by cause, volume, and the
    span from the first request sent to the last answer received (the rate's denominator)."""

    name: str
    ok: int = 0
    entries: int = 0  # status entries carried by successful requests (allocations, revocations)
    not_modified: int = 0  # successful 304 answers (conditional fetches)
    errors: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # first message seen per cause
    bytes_in: int = 0
    bytes_out: int = 0
    latency: Histogram = field(default_factory=Histogram)
    first_start: float | None = None
    last_end: float | None = None

    def started(self, t: float) -> None:
        if self.first_start is None:
            self.first_start = t

    def finished(self, t: float) -> None:
        self.last_end = t if self.last_end is None else max(self.last_end, t)

    def success(self, latency: float, *, entries: int = 0) -> None:
        self.ok += 1
        self.entries += entries
        self.latency.add(latency)

    def failure(self, cause: str, message: str | None = None) -> None:
        self.errors[cause] += 1
        if message and cause not in self.examples:
            self.examples[cause] = message[:300]

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def span(self) -> float:
        if self.first_start is None or self.last_end is None:
            return 0.0
        return max(self.last_end - self.first_start, 1e-9)

    def as_dict(self) -> dict[str, Any]:
        span = self.span
        return {
            "ok": self.ok,
            "errors": self.error_count,
            "errors_by_cause": dict(sorted(self.errors.items())),
            "error_examples": dict(sorted(self.examples.items())),
            "not_modified": self.not_modified,
            "entries": self.entries,
            "seconds": round(span, 3),
            "requests_per_s": round(self.ok / span, 1) if span else 0.0,
            "entries_per_s": round(self.entries / span, 1) if span else 0.0,
            "latency_ms": self.latency.summary_ms(),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
        }
