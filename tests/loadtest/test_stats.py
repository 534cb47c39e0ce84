"""The load test's figures: the bounded histogram against exact quantiles, and count parsing."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statuslist.loadtest.scenario import parse_count
from statuslist.loadtest.stats import Histogram, OpStats, Timeline, percentile


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(min_value=2e-6, max_value=1e3), min_size=1, max_size=2000),
    st.sampled_from([0.5, 0.9, 0.99, 1.0]),
)
def test_quantiles_within_one_percent(values: list[float], q: float) -> None:
    h = Histogram()
    for v in values:
        h.add(v)
    got, want = h.quantile(q), exact(values, q)
    assert abs(got - want) <= 0.0101 * want, (got, want)
    assert h.count == len(values) and h.max == max(values) and h.min == min(values)
    assert math.isclose(h.total, sum(values), rel_tol=1e-9)
    assert percentile(values, q) == want


def test_memory_is_bounded_by_range_not_count() -> None:
    h = Histogram()
    for n in range(200_000):
        h.add(0.001 + (n % 1000) * 1e-5)  # 1 ms .. 11 ms
    assert len(h._buckets) < 260  # log(11)/log(1.01) buckets, not 200,000 values
    assert h.summary_ms()["max"] == pytest.approx(10.99, rel=1e-3)


def test_empty_and_tiny() -> None:
    assert Histogram().quantile(0.5) == 0.0
    assert Histogram().summary_ms() == {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    h = Histogram()
    h.add(0.0)
    assert h.quantile(0.99) == 0.0
    assert percentile([], 0.5) == 0.0


def test_op_stats_rates_count_successes_only() -> None:
    op = OpStats("x")
    op.started(10.0)
    op.success(0.01, entries=100)
    op.failure("HTTP 503", "overloaded")
    op.failure("HTTP 503", "second message is not kept")
    op.finished(12.0)
    doc = op.as_dict()
    assert doc["ok"] == 1 and doc["errors"] == 2
    assert doc["requests_per_s"] == 0.5 and doc["entries_per_s"] == 50.0
    assert doc["error_examples"] == {"HTTP 503": "overloaded"}


@pytest.mark.parametrize(
    ("text", "value"),
    [("200000", 200_000), ("200_000", 200_000), ("200k", 200_000), ("10M", 10**7),
     ("1e6", 10**6), ("1.5k", 1500), ("100m", 10**8), ("0", 0)],
)  # fmt: skip
def test_parse_count(text: str, value: int) -> None:
    assert parse_count(text) == value


@pytest.mark.parametrize("text", ["", "ten", "1.5", "1e-3", "k", "10x"])
def test_parse_count_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="whole number"):
        parse_count(text)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=1e-7, max_value=1e3), min_size=1, max_size=500),
    st.integers(min_value=1, max_value=4),
)
def test_merged_histograms_are_the_histogram_of_all(values: list[float], parts: int) -> None:
    whole, merged = Histogram(), Histogram()
    pieces = [Histogram() for _ in range(parts)]
    for n, v in enumerate(values):
        whole.add(v)
        pieces[n % parts].add(v)
    for piece in pieces:
        merged.merge(piece)
    assert merged.buckets() == whole.buckets() and merged.count == whole.count
    assert (merged.max, merged.min) == (whole.max, whole.min)
    for q in (0.5, 0.9, 0.99, 1.0):
        assert merged.quantile(q) == whole.quantile(q)
    with pytest.raises(ValueError, match="growth"):
        merged.merge(Histogram(growth=1.05))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=5000),
            st.booleans(),
            st.floats(min_value=1e-4, max_value=2.0),
            st.sampled_from(["a", "b"]),
            st.integers(min_value=0, max_value=3),
        ),
        min_size=1,
        max_size=300,
    ),
    st.integers(min_value=4, max_value=64),
)
def test_timelines_merge_slot_by_slot_and_stay_bounded(
    events: list[tuple[float, bool, float, str, int]], cap: int
) -> None:
    """Events split over several timelines (which widen at different times) merge into exactly
    the timeline of all of them; no timeline ever holds more than its cap of slots."""
    whole = Timeline(max_slots=cap)
    pieces = [Timeline(max_slots=cap) for _ in range(3)]
    for n, (t, ok, latency, op, part) in enumerate(events):
        whole.record(op, t, ok=ok, latency=latency, entries=n)
        pieces[part % 3].record(op, t, ok=ok, latency=latency, entries=n)
        pieces[part % 3].record_server(0, t, rss=t, cpu=t / 2)
    merged = Timeline(max_slots=cap)
    for piece in pieces:
        assert all(len(slots) <= cap for slots in piece.ops.values())
        merged.merge(piece)
    assert merged.width == whole.width
    assert all(len(slots) <= cap for slots in merged.ops.values())
    assert merged.ops.keys() == whole.ops.keys()
    for op, slots in whole.ops.items():
        assert merged.ops[op].keys() == slots.keys()
        for k, slot in slots.items():
            got = merged.ops[op][k]
            assert (got.ok, got.errors, got.entries) == (slot.ok, slot.errors, slot.entries)
            assert got.latency.buckets() == slot.latency.buckets()
    assert sum(s.ok for slots in merged.ops.values() for s in slots.values()) == sum(
        ok for _, ok, _, _, _ in events
    )
    # The server's RSS per slot is the highest seen in it (RSS = t here, so the slot's last).
    for k, sslot in merged.server[0].items():
        inside = [t for t, *_ in events if int(t // merged.width) == k]
        assert sslot.rss_max == max(inside)
        assert sslot.cpu_total == max(inside) / 2


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=0.0, max_value=40.0), min_size=1, max_size=200),
    st.floats(min_value=0.0, max_value=40.0),
)
def test_timeline_rates_are_finite_whatever_the_window(times: list[float], window: float) -> None:
    """Requests answered just after the window closed (a slot it covers by a hair, or not at
    all) still give finite, non-negative rates and a positive denominator: the report of a run
    never fails on its last slot (a CI run once divided by a coverage rounded to 0.0)."""
    tl = Timeline()
    for t in times:
        tl.record("get", t, ok=True, latency=0.001, entries=1)
    doc = tl.as_dict(["http://x"], window)
    points = doc["operations"]["get"]
    assert sum(p["ok"] for p in points) == len(times)
    for p in points:
        assert p["seconds"] > 0
        assert math.isfinite(p["requests_per_s"]) and p["requests_per_s"] >= 0
        assert p["requests_per_s"] <= p["ok"] * 20 / tl.width + 0.01


def test_timeline_sliver_slot_of_a_window() -> None:
    """The exact case: a window of 3.0004 s, a request in its fourth slot."""
    tl = Timeline()
    tl.record("get", 3.0002, ok=True, latency=0.001, entries=1)
    (point,) = tl.as_dict([], 3.0004)["operations"]["get"]
    assert point["seconds"] == 0.05 and point["requests_per_s"] == 20.0
