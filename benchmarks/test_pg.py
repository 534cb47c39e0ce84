"""Several instances on PostgreSQL (issue #11), with SQLite in the same run for the ratio.

Real processes on this 2-core machine: a PostgreSQL server (``tests/pg.py``, ``fsync`` and
``synchronous_commit`` on), two ``statuslist serve`` instances on it (``tests/multi``'s
``Cluster``), one SQLite ``statuslist serve``, and the aiohttp load generator of
``benchmarks/test_http.py`` — all sharing the two cores.

- ``test_single_c64``: durable single-entry revocations from 64 concurrent workers, on SQLite and
  on PostgreSQL spread over both instances (worker k talks to instance k mod 2).
- ``test_batch_1m_pg``: one binary PATCH of 1,000,000 entries of a 10M-entry list.
- ``test_allocation_pg``: ten allocations of 10,000 indices, one after the other.
- ``test_lag_across_instances``: a revocation's 2xx on instance A to the first token served by
  instance B that shows it, while 16 writers load both instances.
- ``test_failover``: ``kill -9`` of the publishing instance to the first token showing a change
  written right after it, on the surviving instance.

``python -m benchmarks.report --http FILE`` renders the figures.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import statistics
import threading
import time
from array import array
from collections import Counter
from collections.abc import Iterator

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from benchmarks.test_http import (
    INVALID_BODY,
    _new_loop,
    _open_session,
    _quantile,
    _run_workers,
    _stat,
)
from tests.multi.conftest import Cluster, token_status
from tests.pg import PostgresServer, postgres_server
from tests.support import ServerProcess

SINGLE_N = 6_000
ROUNDS = 3
JWT = {"Accept": "application/statuslist+jwt", "Accept-Encoding": "identity"}


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = _new_loop()
    yield lp
    lp.close()


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def cluster(pg: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("pgbench"), pg.new_database("bench"), 2, 1.0).start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("sqlitebench") / "data").start()
    yield srv
    srv.stop()


def _targets(
    kind: str, cluster: Cluster, sqlite_server: ServerProcess
) -> tuple[list[ServerProcess], str]:
    """(the instances the workers spread over, API key) for one backend."""
    if kind == "sqlite":
        return [sqlite_server], sqlite_server.api_key
    return list(cluster.nodes), cluster.key


def _create(node: ServerProcess, key: str, size: int) -> str:
    return str(node.api("POST", "/v1/lists", {"bits": 1, "size": size}, key=key)["id"])


def _revoked(node: ServerProcess, key: str, list_id: str) -> int:
    doc = node.api("GET", f"/v1/lists/{list_id}", key=key)
    return int(doc["counts"].get("INVALID", 0))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql-2"])
def test_single_c64(
    benchmark: BenchmarkFixture,
    loop: asyncio.AbstractEventLoop,
    cluster: Cluster,
    sqlite_server: ServerProcess,
    kind: str,
) -> None:
    benchmark.group = "durable single revocations, c=64"
    nodes, key = _targets(kind, cluster, sqlite_server)
    bases = [n.url for n in nodes]
    list_id = _create(nodes[0], key, 1_000_000)
    rng = random.Random(21)
    picked = rng.sample(range(1_000_000), SINGLE_N * ROUNDS)
    rounds = iter(picked[r * SINGLE_N : (r + 1) * SINGLE_N] for r in range(ROUNDS))
    session = loop.run_until_complete(_open_session(64))
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    statuses: Counter[int] = Counter()
    latencies: list[float] = []

    def one_round(chunk: list[int]) -> None:
        jobs = iter(enumerate(chunk))

        async def put(job: tuple[int, int]) -> None:
            k, idx = job
            base = bases[k % len(bases)]
            t0 = time.perf_counter()
            url = f"{base}/v1/lists/{list_id}/entries/{idx}"
            async with session.put(url, data=INVALID_BODY, headers=headers) as resp:
                await resp.read()
            latencies.append(time.perf_counter() - t0)
            statuses[resp.status] += 1

        loop.run_until_complete(_run_workers(64, jobs, put))

    try:
        benchmark.pedantic(
            one_round, setup=lambda: ((next(rounds),), {}), rounds=ROUNDS, iterations=1
        )
    finally:
        loop.run_until_complete(session.close())
    assert statuses == {200: SINGLE_N * ROUNDS}, statuses
    for node in nodes:  # every instance reads every write back
        assert _revoked(node, key, list_id) == SINGLE_N * ROUNDS
    benchmark.extra_info.update(
        {
            "revoked_read_back": SINGLE_N * ROUNDS,
            "per_second": round(SINGLE_N / _stat(benchmark, "median")),
            "p50_ms": round(_quantile(latencies, 0.5) * 1e3, 2),
            "p99_ms": round(_quantile(latencies, 0.99) * 1e3, 2),
            "instances": len(bases),
        }
    )


def test_batch_1m_pg(
    benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop, cluster: Cluster
) -> None:
    benchmark.group = "1M-entry batch on PostgreSQL"
    a, b = cluster.nodes
    list_id = _create(a, cluster.key, 10_000_000)
    rng = random.Random(22)
    picked = rng.sample(range(10_000_000), 1_000_000 * ROUNDS)
    bodies = iter(array("Q", picked[r::ROUNDS]).tobytes() for r in range(ROUNDS))
    session = loop.run_until_complete(_open_session(1))
    headers = {"Authorization": f"Bearer {cluster.key}", "Content-Type": "application/octet-stream"}
    answers: list[int] = []

    async def patch(body: bytes) -> None:
        url = f"{a.url}/v1/lists/{list_id}/entries?status=INVALID"
        async with session.patch(url, data=body, headers=headers) as resp:
            await resp.read()
            answers.append(resp.status)

    try:
        benchmark.pedantic(
            lambda body: loop.run_until_complete(patch(body)),
            setup=lambda: ((next(bodies),), {}),
            rounds=ROUNDS,
            iterations=1,
        )
    finally:
        loop.run_until_complete(session.close())
    assert answers == [200] * ROUNDS
    assert _revoked(b, cluster.key, list_id) == 1_000_000 * ROUNDS  # read on the other one
    benchmark.extra_info.update(
        {
            "revoked_read_back": 1_000_000 * ROUNDS,
            "per_second": round(1e6 / _stat(benchmark, "median")),
        }
    )


def test_allocation_pg(
    benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop, cluster: Cluster
) -> None:
    benchmark.group = "allocation on PostgreSQL"
    a, b = cluster.nodes
    list_id = _create(a, cluster.key, 100_000_000)
    session = loop.run_until_complete(_open_session(2))
    headers = {"Authorization": f"Bearer {cluster.key}", "Content-Type": "application/json"}
    seen: set[int] = set()
    body = f'{{"count": 10000, "list_id": "{list_id}"}}'.encode()

    def one_round() -> None:
        async def go() -> None:
            for k in range(10):  # alternating instances
                url = f"{(a, b)[k % 2].url}/v1/allocations"
                async with session.post(url, data=body, headers=headers) as resp:
                    assert resp.status == 201
                    for e in await resp.json():
                        seen.add(e["status_list"]["idx"])

        loop.run_until_complete(go())

    try:
        benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    finally:
        loop.run_until_complete(session.close())
    assert len(seen) == 10 * 10_000 * ROUNDS, "an index was handed out twice"
    benchmark.extra_info.update(
        {"allocated_read_back": len(seen), "per_second": round(1e5 / _stat(benchmark, "median"))}
    )


def test_lag_across_instances(benchmark: BenchmarkFixture, cluster: Cluster) -> None:
    benchmark.group = "publish lag across instances (publish_interval 1 s)"
    a, b = cluster.nodes
    list_id = _create(a, cluster.key, 1_000_000)
    stop = threading.Event()

    def writers() -> None:
        lp = _new_loop()

        async def go() -> None:
            session = await _open_session(16)
            headers = {"Authorization": f"Bearer {cluster.key}", "Content-Type": "application/json"}
            counter = itertools.count(500_000)

            async def put(k: int) -> None:
                base = (a, b)[k % 2].url
                url = f"{base}/v1/lists/{list_id}/entries/{next(counter)}"
                async with session.put(url, data=INVALID_BODY, headers=headers) as resp:
                    await resp.read()

            jobs = itertools.takewhile(lambda _: not stop.is_set(), itertools.count())
            await _run_workers(16, jobs, put)
            await session.close()

        lp.run_until_complete(go())
        lp.close()

    load = threading.Thread(target=writers)
    load.start()
    lags: list[float] = []

    def sample(i: int) -> None:
        a.api("PUT", f"/v1/lists/{list_id}/entries/{i}", {"status": 1}, key=cluster.key)
        acked = time.monotonic()
        while time.monotonic() - acked < 10:
            status, _, body = b.request("GET", f"/statuslists/{list_id}", headers=JWT)
            if status == 200 and token_status(body, i) == 1:
                lags.append(time.monotonic() - acked)
                return
            time.sleep(0.01)
        raise AssertionError(f"sample {i} not seen on the other instance")

    samples = iter(range(40))
    try:
        benchmark.pedantic(lambda: sample(next(samples)), rounds=40, iterations=1)
    finally:
        stop.set()
        load.join()
    benchmark.extra_info.update(
        {
            "p50_ms": round(_quantile(lags, 0.5) * 1e3, 1),
            "p99_ms": round(_quantile(lags, 0.99) * 1e3, 1),
            "max_ms": round(max(lags) * 1e3, 1),
            "samples": len(lags),
        }
    )


def test_failover(benchmark: BenchmarkFixture, cluster: Cluster) -> None:
    benchmark.group = "failover after kill -9 of the publisher"
    list_id = _create(cluster.nodes[0], cluster.key, 100_000)
    times: list[float] = []
    counter = itertools.count(1)

    def one_round() -> None:
        leader = cluster.leader()
        survivor = next(n for n in cluster.nodes if n is not leader)
        i = next(counter)
        leader.kill()
        killed = time.monotonic()
        survivor.api("PUT", f"/v1/lists/{list_id}/entries/{i}", {"status": 1}, key=cluster.key)
        while time.monotonic() - killed < 30:
            status, _, body = survivor.request("GET", f"/statuslists/{list_id}", headers=JWT)
            if status == 200 and token_status(body, i) == 1:
                times.append(time.monotonic() - killed)
                break
            time.sleep(0.01)
        else:
            raise AssertionError("no instance published after the kill")
        leader.start()

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    benchmark.extra_info.update(
        {
            "p50_ms": round(statistics.median(times) * 1e3, 1),
            "max_ms": round(max(times) * 1e3, 1),
        }
    )
