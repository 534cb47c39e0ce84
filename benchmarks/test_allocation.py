"""Allocation (issue #13, part 3): the native keyed permutation against the pure-Python reference,
and many large allocations over HTTP at once.

- ``test_permutation_batches``: 10,000 indices per call from a 100M-entry list's permutation,
  consecutive counter ranges (as allocations draw them). ``rust`` is the service's permutation
  (``statuslist.service.permutation``, returning an ``array('Q')``); ``rust-json`` the same range
  written straight into the allocation answer's JSON; ``rust-new-list`` a fresh permutation per
  call (a list's first batch: nothing remembered yet); ``python`` the original pure-Python
  implementation (``tests/reference/permutation.py``). Every call's output is checked against
  the reference afterwards (the Rust rows on a sample of calls).
- ``test_concurrent_100k_allocations``: ``CONCURRENT`` requests of ``POST /v1/allocations``
  ``{"count": 100000, "list_id": …}`` at once on a real server (one connection each), against
  the same request alone (``ALONE_REQUESTS`` one after the other, before). Every answer is
  parsed afterwards: all indices distinct and the list's ``allocated`` counter read back.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time
from array import array
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from benchmarks.test_http import CpuMeter, _auth, _create_list, _open_session, _pid
from statuslist import StatusList
from statuslist.service.permutation import IndexPermutation
from tests.reference.permutation import IndexPermutation as Reference
from tests.support import ServerProcess

KEY = bytes(range(32))
LIST_SIZE = 100_000_000
BATCH = 10_000
URI = "https://status.example/statuslists/0123456789abcdef"

CONCURRENT = 50
BIG = 100_000
ALONE_REQUESTS = 5
CONCURRENT_ROUNDS = 2


def _stat(benchmark: BenchmarkFixture, name: str) -> float:
    stats = benchmark.stats
    assert stats is not None
    return float(getattr(stats.stats, name))


@pytest.mark.parametrize("impl", ["rust", "rust-json", "rust-new-list", "python"])
def test_permutation_batches(benchmark: BenchmarkFixture, impl: str) -> None:
    benchmark.group = "permutation: 10,000 indices of a 100M-entry list"
    starts = itertools.count(0, BATCH)
    done: list[tuple[int, Any]] = []
    perm: Any = Reference(KEY, LIST_SIZE) if impl == "python" else IndexPermutation(KEY, LIST_SIZE)

    def batch() -> None:
        start = next(starts)
        if impl == "rust-new-list":
            done.append((start, IndexPermutation(KEY, LIST_SIZE).many(start, BATCH)))
        elif impl == "rust-json":
            done.append((start, perm.entries_json(start, BATCH, URI)))
        else:
            done.append((start, perm.many(start, BATCH)))

    rounds = {"python": 5, "rust-new-list": 20}.get(impl, 300)
    benchmark.pedantic(batch, rounds=rounds, iterations=1)

    reference = Reference(KEY, LIST_SIZE)
    sample = done if impl == "python" else [done[0], done[len(done) // 2], done[-1]]
    for start, got in sample:
        expected = list(reference.many(start, BATCH))
        if impl == "rust-json":
            got = [e["status_list"]["idx"] for e in json.loads(b"[" + got + b"]")]
        assert list(got) == expected
    benchmark.extra_info["per_second"] = round(BATCH / _stat(benchmark, "median"))


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    try:
        yield lp
    finally:
        lp.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("bench-alloc") / "data").start()
    try:
        yield srv
    finally:
        srv.stop()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def test_concurrent_100k_allocations(
    benchmark: BenchmarkFixture, server: ServerProcess, loop: asyncio.AbstractEventLoop
) -> None:
    benchmark.group = "HTTP: 50 concurrent allocations of 100,000"
    doc = _create_list(server, LIST_SIZE)
    list_id = doc["id"]
    url = f"{server.url}/v1/allocations"
    headers = {**_auth(server), "Content-Type": "application/json"}
    body = json.dumps({"count": BIG, "list_id": list_id}).encode()
    session = loop.run_until_complete(_open_session(CONCURRENT))
    seen = StatusList(LIST_SIZE, 1)
    handed_out = 0

    def check(answers: list[bytes]) -> None:
        nonlocal handed_out
        for raw in answers:
            idx = array("Q", (e["status_list"]["idx"] for e in json.loads(raw)))
            assert len(idx) == BIG
            assert not any(seen.get_many(idx)), "an index was handed out twice"
            seen.set_many(idx, b"\x01" * BIG)
            handed_out += BIG

    async def one() -> tuple[float, float, bytes]:
        """(seconds to the answer's headers, seconds to its last byte, body). The server writes
        the headers once the whole body is computed, so the first figure is the server's part
        (reserve, permutation, JSON) plus any wait for another request."""
        t0 = time.perf_counter()
        async with session.post(url, data=body, headers=headers) as resp:
            t1 = time.perf_counter()
            raw = await resp.read()
            assert resp.status == 201, raw[:300]
        return t1 - t0, time.perf_counter() - t0, raw

    sizes: list[int] = []
    alone: list[float] = []
    alone_headers: list[float] = []
    concurrent: list[float] = []
    concurrent_headers: list[float] = []
    pending: list[bytes] = []

    async def concurrent_round() -> None:
        results = await asyncio.gather(*(one() for _ in range(CONCURRENT)))
        concurrent_headers.extend(h for h, _, _ in results)
        concurrent.extend(t for _, t, _ in results)
        pending.extend(raw for _, _, raw in results)

    def setup() -> None:  # not timed: check the previous round's answers, free them
        check(pending)
        pending.clear()

    try:
        loop.run_until_complete(session.get(f"{server.url}/healthz"))
        for _ in range(ALONE_REQUESTS):
            h, t, raw = loop.run_until_complete(one())
            alone_headers.append(h)
            alone.append(t)
            sizes.append(len(raw))
            check([raw])
        with CpuMeter(server=_pid(server)) as cpu:
            benchmark.pedantic(
                lambda: loop.run_until_complete(concurrent_round()),
                setup=setup,
                rounds=CONCURRENT_ROUNDS,
                iterations=1,
            )
        setup()
    finally:
        loop.run_until_complete(session.close())
    total = BIG * (ALONE_REQUESTS + CONCURRENT * CONCURRENT_ROUNDS)
    assert handed_out == total
    assert seen.counts().get(1, 0) == total
    allocated = server.api("GET", f"/v1/lists/{list_id}")["allocated"]
    assert allocated == total
    wall = _stat(benchmark, "median")
    alone_median = statistics.median(alone)
    benchmark.extra_info.update(
        {
            "allocated_read_back": allocated,
            "per_second": round(CONCURRENT * BIG / wall),
            "alone_median_s": alone_median,
            "alone_per_second": round(BIG / alone_median),
            "alone_headers_median_s": statistics.median(alone_headers),
            "headers_p50_s": _pct(concurrent_headers, 0.5),
            "headers_p90_s": _pct(concurrent_headers, 0.9),
            "headers_max_s": max(concurrent_headers),
            "latency_p50_s": _pct(concurrent, 0.5),
            "latency_p90_s": _pct(concurrent, 0.9),
            "latency_min_s": min(concurrent),
            "latency_max_s": max(concurrent),
            # 1.0: the concurrent round took as long as the same requests one after another.
            "wall_vs_serial": wall / (CONCURRENT * alone_median),
            "response_bytes": sizes[0],
            "cpu_cores": cpu.cores,
        }
    )
