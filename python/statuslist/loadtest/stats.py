"""Figures of a load test: a bounded latency histogram, per-operation counters and a bounded
per-second timeline; every figure merges exactly (the parts of ``--processes N``)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Histogram", "OpStats", "Timeline", "percentile"]

_FLOOR = 1e-6  # seconds; anything faster lands in bucket 0
_GROWTH = 1.01  # bucket width: 1 % of the value, so quantiles are within 1 % of the true ones
_LOG_GROWTH = math.log(_GROWTH)


class Histogram:
    """Log-bucketed durations: memory bounded by the value range (about 2,300 buckets from 1 µs
    to 10,000 s at the default ``growth`` of 1 %), not by the number of observations; quantiles
    within ``growth``; exact count, sum, max. Two histograms of one ``growth`` merge exactly
    (bucket by bucket), so a merged histogram is the one of all the observations.
    """

    __slots__ = ("_buckets", "_log_growth", "count", "growth", "max", "min", "total")

    def __init__(self, growth: float = _GROWTH) -> None:
        self._buckets: Counter[int] = Counter()
        self.growth = growth
        self._log_growth = _LOG_GROWTH if growth == _GROWTH else math.log(growth)
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self.min = math.inf

    def _bucket(self, seconds: float) -> int:
        if seconds <= _FLOOR:
            return 0
        return 1 + int(math.log(seconds / _FLOOR) / self._log_growth)

    def merge(self, other: Histogram) -> None:
        """Adds ``other``'s observations (same ``growth``) to this one."""
        if other.growth != self.growth:
            raise ValueError(f"cannot merge histograms of growth {self.growth} and {other.growth}")
        self._buckets.update(other._buckets)
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)
        self.min = min(self.min, other.min)

    def buckets(self) -> dict[int, int]:
        """Observations per bucket (a copy), for tests and merging checks."""
        return dict(self._buckets)

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
                middle: float = _FLOOR * self.growth ** (bucket - 0.5)
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

    def merge(self, other: OpStats) -> None:
        """Adds ``other`` (the same operation, measured by another process) to this one; the
        span becomes the union of both spans."""
        self.ok += other.ok
        self.entries += other.entries
        self.not_modified += other.not_modified
        self.errors.update(other.errors)
        for cause, message in other.examples.items():
            self.examples.setdefault(cause, message)
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        self.latency.merge(other.latency)
        if other.first_start is not None:
            self.first_start = (
                other.first_start
                if self.first_start is None
                else min(self.first_start, other.first_start)
            )
        if other.last_end is not None:
            self.finished(other.last_end)

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


#: Per-slot latency histograms are coarser than the totals' (5 %: quantiles within 5 %), which
#: keeps a slot of a busy operation to a few hundred counters.
SLOT_GROWTH = 1.05
#: The timeline never holds more slots than this: past it, slots are merged in pairs (the slot
#: width doubles: 1 s, 2 s, 4 s ...), so memory is bounded at any duration.
MAX_SLOTS = 300


@dataclass(slots=True)
class Slot:
    """One operation in one slot of the timeline."""

    ok: int = 0
    errors: int = 0
    entries: int = 0
    latency: Histogram = field(default_factory=lambda: Histogram(SLOT_GROWTH))

    def merge(self, other: Slot) -> None:
        self.ok += other.ok
        self.errors += other.errors
        self.entries += other.entries
        self.latency.merge(other.latency)


@dataclass(slots=True)
class ServerSlot:
    """One instance's ``/metrics`` in one slot: the highest RSS seen, and the last CPU total
    read (with when it was read), from which CPU use between slots follows."""

    rss_max: float = 0.0
    cpu_total: float | None = None
    cpu_at: float = 0.0

    def merge(self, other: ServerSlot) -> None:
        self.rss_max = max(self.rss_max, other.rss_max)
        if other.cpu_total is not None and (self.cpu_total is None or other.cpu_at > self.cpu_at):
            self.cpu_total, self.cpu_at = other.cpu_total, other.cpu_at


class Timeline:
    """Per-second figures of the measured window: per operation, the successes, errors, entries
    and a latency histogram of each slot; per server instance, RSS and CPU. Times are seconds
    since the window started. At most ``max_slots`` slots (merged in pairs past that, the
    width doubling), so memory is bounded whatever the duration. Two timelines merge exactly:
    slot by slot, at the wider of their widths (widths are powers of two of 1 s, so a finer
    timeline re-bins into a coarser one without splitting a slot)."""

    __slots__ = ("max_slots", "ops", "server", "width")

    def __init__(self, max_slots: int = MAX_SLOTS) -> None:
        self.max_slots = max_slots
        self.width = 1.0
        self.ops: dict[str, dict[int, Slot]] = {}
        self.server: dict[int, dict[int, ServerSlot]] = {}

    def _slot(self, t: float) -> int:
        k = int(max(t, 0.0) // self.width)
        while k >= self.max_slots:
            self._widen(2)
            k = int(max(t, 0.0) // self.width)
        return k

    def _widen(self, factor: int) -> None:
        """Merges every ``factor`` adjacent slots into one."""
        self.width *= factor
        for name, slots in self.ops.items():
            merged: dict[int, Slot] = {}
            for k in sorted(slots):
                dest = merged.setdefault(k // factor, Slot())
                dest.merge(slots[k])
            self.ops[name] = merged
        for n, sslots in self.server.items():
            smerged: dict[int, ServerSlot] = {}
            for k in sorted(sslots):
                smerged.setdefault(k // factor, ServerSlot()).merge(sslots[k])
            self.server[n] = smerged

    def record(
        self, op: str, t: float, *, ok: bool, latency: float = 0.0, entries: int = 0
    ) -> None:
        """One request of ``op`` answered at ``t``: a success (with its latency and entries) or
        an error."""
        k = self._slot(t)
        slot = self.ops.setdefault(op, {}).get(k)
        if slot is None:
            slot = self.ops[op][k] = Slot()
        if ok:
            slot.ok += 1
            slot.entries += entries
            slot.latency.add(latency)
        else:
            slot.errors += 1

    def record_server(self, instance: int, t: float, rss: float | None, cpu: float | None) -> None:
        k = self._slot(t)
        slot = self.server.setdefault(instance, {}).setdefault(k, ServerSlot())
        if rss is not None:
            slot.rss_max = max(slot.rss_max, rss)
        if cpu is not None and (slot.cpu_total is None or t >= slot.cpu_at):
            slot.cpu_total, slot.cpu_at = cpu, t

    def merge(self, other: Timeline) -> None:
        """Adds ``other`` slot by slot (at the wider width of the two)."""
        if other.width > self.width:
            self._widen(round(other.width / self.width))
        factor = round(self.width / other.width)
        for name, slots in other.ops.items():
            mine = self.ops.setdefault(name, {})
            for k, slot in slots.items():
                mine.setdefault(k // factor, Slot()).merge(slot)
        for n, sslots in other.server.items():
            smine = self.server.setdefault(n, {})
            for k, sslot in sslots.items():
                smine.setdefault(k // factor, ServerSlot()).merge(sslot)
        while self.ops and max((max(s, default=0) for s in self.ops.values()), default=0) >= (
            self.max_slots
        ):
            self._widen(2)

    def as_dict(self, instances: list[str], window: float) -> dict[str, Any]:
        """The timeline for reports: per operation and per instance, one point per slot that
        saw anything (``t`` is the slot's start, in seconds since the window started;
        ``seconds`` how much of the slot lies in the ``window``-second window, the rate's
        denominator: the last slot is usually cut short)."""
        w = self.width

        def covered(k: int) -> float:
            # A slot the window only grazes (requests answered just after it closed) is
            # counted as at least a twentieth of a slot: never a zero denominator, and a
            # sliver's few requests never show as a spike.
            inside = min(w, window - k * w)
            return max(inside, w / 20)

        ops: dict[str, list[dict[str, Any]]] = {}
        for name, slots in self.ops.items():
            ops[name] = [
                {
                    "t": k * w,
                    "seconds": round(covered(k), 3),
                    "ok": s.ok,
                    "errors": s.errors,
                    "entries": s.entries,
                    "requests_per_s": round(s.ok / covered(k), 2),
                    "p50_ms": round(s.latency.quantile(0.50) * 1e3, 3),
                    "p99_ms": round(s.latency.quantile(0.99) * 1e3, 3),
                }
                for k, s in sorted(slots.items())
            ]
        server: dict[str, list[dict[str, Any]]] = {}
        for n, sslots in sorted(self.server.items()):
            points: list[dict[str, Any]] = []
            prev: ServerSlot | None = None
            for k, s in sorted(sslots.items()):
                cpu = None
                if (
                    prev is not None
                    and prev.cpu_total is not None
                    and s.cpu_total is not None
                    and s.cpu_at > prev.cpu_at
                ):
                    cpu = round(100 * (s.cpu_total - prev.cpu_total) / (s.cpu_at - prev.cpu_at), 1)
                points.append({"t": k * w, "rss_bytes": int(s.rss_max), "cpu_percent": cpu})
                if s.cpu_total is not None:
                    prev = s
            url = instances[n] if n < len(instances) else f"instance {n}"
            server[url] = points
        return {"slot_seconds": w, "operations": ops, "server": server}
