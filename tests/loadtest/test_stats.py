"""The load test's figures: the bounded histogram against exact quantiles, and count parsing."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statuslist.loadtest.scenario import parse_count
from statuslist.loadtest.stats import Histogram, OpStats, percentile


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
