"""HTTP service benchmarks (issue #4): a real ``statuslist serve`` subprocess (release build,
SQLite with ``synchronous=FULL`` and group commit, uvloop) driven over loopback by aiohttp clients.

- ``test_revocations_single_c64``: N ``PUT /v1/lists/{id}/entries/{idx}`` from 64 concurrent
  workers sharing one session; each 2xx is a durable commit.
- ``test_revocation_batch_1m``: one ``PATCH /v1/lists/{id}/entries`` revoking 1,000,000 distinct
  entries of a 10M-entry list, as JSON ``{"indices": […], "status": "INVALID"}`` and as the binary
  body (little-endian u64 indices, ``?status=INVALID``); bodies are serialised before timing.
- ``test_allocation_batches``: ``POST /v1/allocations`` of 10,000 indices at a time on a
  100M-entry list.
- ``test_cached_get_vs_nginx``: the token of a published 10M-entry list (1% revoked) from 50
  keep-alive connections, against nginx (one worker) serving the same bytes from a file. The same
  load generator (``GET_PROCESSES`` helper processes running aiohttp) drives both peers.
- ``test_publish_lag_under_load``: time from a revocation's 2xx to the first served token showing
  it, sampled while 32 writers (in a helper process) revoke entries of the same list.

Each benchmark asserts the work really happened (every answer 2xx, bodies as expected, revoked and
allocated counts read back from ``GET /v1/lists/{id}``) and records its rate or latency figures in
``extra_info`` next to its timing. ``python -m benchmarks.report --http FILE`` renders them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import multiprocessing
import os
import random
import statistics
import time
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from statuslist import StatusList
from statuslist.codec import INVALID
from tests.support import NginxProcess, ServerProcess, free_port

REPO = Path(__file__).resolve().parents[1]

SINGLE_N = 5_000
SINGLE_CONCURRENCY = 64
SINGLE_ROUNDS = 5

BATCH_LIST = 10_000_000
BATCH_N = 1_000_000
BATCH_ROUNDS = 3

ALLOC_LIST = 100_000_000
ALLOC_COUNT = 10_000
ALLOC_REQUESTS = 10  # per round, one after the other
ALLOC_ROUNDS = 5

GET_LIST = 10_000_000
GET_CONNECTIONS = 50
GET_PROCESSES = 2  # load-generator processes; GET_CONNECTIONS are split between them
GET_REQUESTS = 4_000  # per round, over all connections
GET_ROUNDS = 3

LAG_LIST = 10_000_000
LAG_WRITERS = 32
LAG_SAMPLES = 40  # per round
LAG_ROUNDS = 2
LAG_POLL = 0.02  # seconds between token fetches of the sampler
LAG_TIMEOUT = 10.0

JWT = "application/statuslist+jwt"
# Identity coding for both peers: nginx serves the file as is, so the service must too.
GET_HEADERS = {"Accept": JWT, "Accept-Encoding": "identity"}
INVALID_BODY = b'{"status":"INVALID"}'


# -- helpers ----------------------------------------------------------------------------------


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it exists
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _quantile(values: Iterable[float], q: float) -> float:
    data = sorted(values)
    if not data:
        return float("nan")
    return data[min(len(data) - 1, round(q * (len(data) - 1)))]


def _ms(seconds: float) -> float:
    return round(seconds * 1e3, 2)


def _stat(benchmark: BenchmarkFixture, name: str) -> float:
    """A statistic (``median``, ``total``, …) of the rounds just timed, in seconds."""
    assert benchmark.stats is not None, "call benchmark.pedantic first"
    value: float = getattr(benchmark.stats.stats, name)
    return value


def _pid(proc: ServerProcess | NginxProcess) -> int:
    assert proc.proc is not None, "not running"
    return proc.proc.pid


def _auth(server: ServerProcess) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.api_key}"}


def _create_list(server: ServerProcess, size: int) -> dict[str, Any]:
    doc: dict[str, Any] = server.api("POST", "/v1/lists", {"bits": 1, "size": size})
    return doc


def _revoked(server: ServerProcess, list_id: str) -> int:
    counts: dict[str, int] = server.api("GET", f"/v1/lists/{list_id}")["counts"]
    return counts.get("INVALID", 0)


def _decode_jwt(token: bytes) -> tuple[dict[str, Any], StatusList]:
    """The payload and the list of a served JWT (not verified: the SDK tests cover that)."""
    part = token.split(b".")[1]
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4)))
    return payload, StatusList.from_json(payload["status_list"])


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int, *, tree: bool = True) -> float:
    """User + system CPU seconds of a process (all its threads) and, with ``tree``, of its
    descendants that are still running (for nginx: master and worker)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split() if tree else []
    except OSError:  # exited
        return 0.0
    return (int(stat[11]) + int(stat[12])) / _TICK + sum(_cpu_seconds(int(c)) for c in children)


def _machine_busy_seconds() -> float:
    """CPU seconds all cores spent outside idle and iowait since boot (``/proc/stat``)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / _TICK


class CpuMeter:
    """CPU used per wall-clock second (cores) by named processes over a ``with`` block.
    ``"client"`` is this process (without its children); ``"machine"`` is every core's busy time,
    so ``machine`` well above the sum of the others shows other work competing for the cores."""

    def __init__(self, **pids: int) -> None:
        self.pids = {"client": os.getpid(), **pids}
        self.cores: dict[str, float] = {}

    def _sample(self) -> dict[str, float]:
        out = {name: _cpu_seconds(pid, tree=name != "client") for name, pid in self.pids.items()}
        out["machine"] = _machine_busy_seconds()
        return out

    def __enter__(self) -> CpuMeter:
        self._start, self._wall = self._sample(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._wall
        end = self._sample()
        self.cores = {n: round((end[n] - self._start[n]) / wall, 2) for n in end}


def _server_gauges(server: ServerProcess) -> dict[str, float]:
    status, _, body = server.request("GET", "/metrics")
    assert status == 200
    out = {}
    for line in body.decode().splitlines():
        name, _, value = line.partition(" ")
        if name in ("statuslist_storage_commits", "statuslist_storage_writes"):
            out[name] = float(value)
    return out


async def _open_session(limit: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, force_close=False),
        auto_decompress=False,
        timeout=aiohttp.ClientTimeout(total=120),
    )


async def _run_workers(
    n_workers: int, jobs: Iterator[Any], work: Callable[[Any], Awaitable[None]]
) -> None:
    """``n_workers`` tasks taking jobs from one iterator until it is exhausted."""

    async def worker() -> None:
        for job in jobs:
            await work(job)

    await asyncio.gather(*(worker() for _ in range(n_workers)))


async def _put_many(
    session: aiohttp.ClientSession,
    base: str,
    headers: dict[str, str],
    indices: Iterable[int],
    concurrency: int,
    stop: Event | None = None,
) -> tuple[Counter[int], list[float]]:
    """``PUT {base}/{idx}`` ``{"status":"INVALID"}`` for every index (until ``stop`` is set)."""
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    hdrs = {**headers, "Content-Type": "application/json"}

    async def put(idx: int) -> None:
        t0 = time.perf_counter()
        async with session.put(f"{base}/{idx}", data=INVALID_BODY, headers=hdrs) as resp:
            await resp.read()
        latencies.append(time.perf_counter() - t0)
        statuses[resp.status] += 1

    it = iter(indices)
    if stop is not None:
        it = itertools.takewhile(lambda _: not stop.is_set(), it)
    await _run_workers(concurrency, it, put)
    return statuses, latencies


async def _get_many(
    session: aiohttp.ClientSession,
    url: str,
    jobs: Iterator[int],
    concurrency: int,
    expected: bytes,
) -> dict[str, Any]:
    """A GET of ``url`` per job, over ``concurrency`` connections; statuses, latencies, and how
    many bodies or content types differ from ``expected``."""
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    wrong = Counter[str]()

    async def get(_: int) -> None:
        t0 = time.perf_counter()
        async with session.get(url, headers=GET_HEADERS) as resp:
            body = await resp.read()
        latencies.append(time.perf_counter() - t0)
        statuses[resp.status] += 1
        if body != expected:
            wrong["body"] += 1
        if resp.headers.get("Content-Type") != JWT:
            wrong["content_type"] += 1

    started = time.perf_counter()
    await _run_workers(concurrency, jobs, get)
    elapsed = time.perf_counter() - started
    return {
        "statuses": dict(statuses),
        "latencies": latencies,
        "wrong": dict(wrong),
        "elapsed": elapsed,
    }


# -- helper processes -------------------------------------------------------------------------


def _take(remaining: Any) -> Iterator[int]:
    """Jobs from a counter shared by all generator processes (a ``multiprocessing.Value``), so
    that every connection stays busy until the round's last request, whichever process has it."""
    while True:
        with remaining.get_lock():
            if remaining.value <= 0:
                return
            remaining.value -= 1
        yield 0


def _getter_main(conn: Connection, remaining: Any) -> None:
    """A load-generator process: runs ``(url, concurrency, expected)`` jobs received on ``conn``
    (GETs until ``remaining`` is 0) with its own event loop and keep-alive session per origin;
    ``None`` ends it."""
    loop = _new_loop()
    sessions: dict[str, aiohttp.ClientSession] = {}
    try:
        while (job := conn.recv()) is not None:
            url, concurrency, expected = job
            origin = url.split("/", 3)[2]
            if origin not in sessions:
                sessions[origin] = loop.run_until_complete(_open_session(concurrency))
            run = _get_many(sessions[origin], url, _take(remaining), concurrency, expected)
            conn.send(loop.run_until_complete(run))
    finally:
        for s in sessions.values():
            loop.run_until_complete(s.close())
        loop.close()


def _writers_main(
    base: str, key: str, indices: bytes, concurrency: int, stop: Event, conn: Connection
) -> None:
    """Background writers: PUT INVALID for each u64 index of ``indices`` from ``concurrency``
    workers until ``stop`` is set; sends "ready" after the first answer, then the results."""
    loop = _new_loop()
    idx = array("Q")
    idx.frombytes(indices)
    headers = {"Authorization": f"Bearer {key}"}

    async def run() -> tuple[dict[int, int], int, float]:
        async with await _open_session(concurrency) as session:
            first, _ = await _put_many(session, base, headers, idx[:1], 1)
            conn.send("ready")
            t0 = time.perf_counter()
            statuses, _ = await _put_many(session, base, headers, idx[1:], concurrency, stop)
            elapsed = time.perf_counter() - t0
        return dict(statuses + first), sum(statuses.values()) + 1, elapsed

    try:
        conn.send(loop.run_until_complete(run()))
    finally:
        loop.close()


class LoadGenerators:
    """``count`` helper processes (spawned: no inherited event loop) sharing each GET job."""

    def __init__(self, count: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.remaining = ctx.Value("q", 0)
        self.pipes: list[Connection] = []
        self.procs = []
        for _ in range(count):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_getter_main, args=(child, self.remaining), daemon=True)
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)

    def get(self, url: str, n: int, connections: int, expected: bytes) -> list[dict[str, Any]]:
        """``n`` GETs over ``connections`` connections in all (split evenly over the processes,
        which take the requests from one shared pool)."""
        k = len(self.pipes)
        self.remaining.value = n
        for i, pipe in enumerate(self.pipes):
            pipe.send((url, connections // k + (i < connections % k), expected))
        results = [pipe.recv() for pipe in self.pipes]
        assert sum(sum(r["statuses"].values()) for r in results) == n
        return results

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()


# -- nginx --------------------------------------------------------------------------------------


def static_site(root: Path, port: int) -> str:
    """nginx serving ``root`` as static files: the peer of the cached GET."""
    return (
        "    server {\n"
        f"        listen 127.0.0.1:{port};\n"
        f"        root {root};\n"
        f"        location / {{ default_type {JWT}; }}\n"
        "    }\n"
    )


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = _new_loop()
    yield lp
    lp.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One ``statuslist serve`` (default settings: publish_interval 1 s, 64 MiB bodies, batches
    of up to 10M) for the whole module."""
    srv = ServerProcess(tmp_path_factory.mktemp("bench-http") / "data").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def generators() -> Iterator[LoadGenerators]:
    gens = LoadGenerators(GET_PROCESSES)
    try:
        yield gens
    finally:
        gens.close()


@pytest.fixture(scope="module")
def get_figures() -> dict[str, dict[str, Any]]:
    """The cached-GET figures of each peer, for the ratio recorded on the second one."""
    return {}


@pytest.fixture(scope="module")
def published_10m(server: ServerProcess) -> tuple[str, bytes]:
    """A 10M-entry list with 1% revoked (at random positions), published; its path and JWT."""
    doc = _create_list(server, GET_LIST)
    list_id = doc["id"]
    rng = random.Random(4)
    idx = array("Q", rng.sample(range(GET_LIST), GET_LIST // 100))
    server.revoke(list_id, idx)
    server.api("POST", f"/v1/lists/{list_id}/publish")
    path = f"/statuslists/{list_id}"
    status, headers, token = server.request("GET", path, headers=GET_HEADERS)
    assert status == 200
    assert headers["Content-Type"] == JWT
    _, sl = _decode_jwt(token)
    assert len(sl) == GET_LIST
    assert sl.counts().get(INVALID) == len(idx)
    return path, token


@pytest.fixture(scope="module")
def nginx(
    tmp_path_factory: pytest.TempPathFactory, published_10m: tuple[str, bytes]
) -> Iterator[NginxProcess]:
    path, token = published_10m
    tmp = tmp_path_factory.mktemp("bench-nginx")
    root = tmp / "www"
    (root / path.lstrip("/")).parent.mkdir(parents=True)
    (root / path.lstrip("/")).write_bytes(token)
    port = free_port()
    proc = NginxProcess(tmp, static_site(root, port), url=f"http://127.0.0.1:{port}")
    proc.start(proc.url + path)
    try:
        yield proc
    finally:
        proc.stop()


# -- benchmarks ---------------------------------------------------------------------------------


def test_revocations_single_c64(
    benchmark: BenchmarkFixture, server: ServerProcess, loop: asyncio.AbstractEventLoop
) -> None:
    """SINGLE_N single-entry revocations per round from 64 concurrent workers; the rate is
    SINGLE_N / median. Every index is revoked once, so the INVALID count must grow by N a round."""
    benchmark.group = "HTTP revocations"
    list_id = _create_list(server, 1_000_000)["id"]
    rng = random.Random(11)
    indices = rng.sample(range(1_000_000), SINGLE_N * SINGLE_ROUNDS)
    rounds = iter(indices[r * SINGLE_N : (r + 1) * SINGLE_N] for r in range(SINGLE_ROUNDS))
    base = f"{server.url}/v1/lists/{list_id}/entries"
    session = loop.run_until_complete(_open_session(SINGLE_CONCURRENCY))
    statuses: Counter[int] = Counter()
    latencies: list[float] = []

    async def warm_up() -> None:  # open the 64 connections (reads only)
        async def get(i: int) -> None:
            async with session.get(f"{base}/{i}", headers=_auth(server)) as resp:
                assert resp.status == 200
                await resp.read()

        await asyncio.gather(*(get(i) for i in range(SINGLE_CONCURRENCY)))

    def one_round(chunk: list[int]) -> None:
        s, lat = loop.run_until_complete(
            _put_many(session, base, _auth(server), chunk, SINGLE_CONCURRENCY)
        )
        statuses.update(s)
        latencies.extend(lat)

    try:
        loop.run_until_complete(warm_up())
        before = _server_gauges(server)
        with CpuMeter(server=_pid(server)) as cpu:
            benchmark.pedantic(
                one_round, setup=lambda: ((next(rounds),), {}), rounds=SINGLE_ROUNDS, iterations=1
            )
    finally:
        loop.run_until_complete(session.close())
    time.sleep(1.2)  # the gauges are refreshed by the publisher, once a second
    after = _server_gauges(server)
    total = SINGLE_N * SINGLE_ROUNDS
    assert statuses == {200: total}, statuses
    assert _revoked(server, list_id) == total
    commits = after["statuslist_storage_commits"] - before["statuslist_storage_commits"]
    writes = after["statuslist_storage_writes"] - before["statuslist_storage_writes"]
    benchmark.extra_info.update(
        {
            "revoked_read_back": total,
            "per_second": round(SINGLE_N / _stat(benchmark, "median")),
            "p50_ms": _ms(_quantile(latencies, 0.5)),
            "p99_ms": _ms(_quantile(latencies, 0.99)),
            "writes_per_commit": round(writes / commits, 1) if commits else None,
            "cpu_cores": cpu.cores,
        }
    )


@pytest.mark.parametrize("form", ["json", "binary"])
def test_revocation_batch_1m(
    benchmark: BenchmarkFixture, server: ServerProcess, loop: asyncio.AbstractEventLoop, form: str
) -> None:
    """One PATCH of 1,000,000 distinct indices per round on a 10M-entry list (rounds use
    disjoint indices, so the INVALID count grows by exactly 1M a round)."""
    benchmark.group = "HTTP batch revocation of 1,000,000 entries"
    list_id = _create_list(server, BATCH_LIST)["id"]
    rng = random.Random(12)
    picked = rng.sample(range(BATCH_LIST), BATCH_N * BATCH_ROUNDS)
    chunks = [picked[r * BATCH_N : (r + 1) * BATCH_N] for r in range(BATCH_ROUNDS)]
    url = f"{server.url}/v1/lists/{list_id}/entries"
    if form == "json":
        headers = {**_auth(server), "Content-Type": "application/json"}
        bodies = [json.dumps({"indices": c, "status": "INVALID"}).encode() for c in chunks]
    else:
        url += "?status=INVALID"
        headers = {**_auth(server), "Content-Type": "application/octet-stream"}
        bodies = [array("Q", c).tobytes() for c in chunks]
    todo = iter(bodies)
    answers: list[tuple[int, Any]] = []
    session = loop.run_until_complete(_open_session(1))

    async def patch(body: bytes) -> None:
        async with session.patch(url, data=body, headers=headers) as resp:
            answers.append((resp.status, await resp.json()))

    try:
        loop.run_until_complete(session.get(f"{server.url}/healthz"))  # connect first
        with CpuMeter(server=_pid(server)) as cpu:
            benchmark.pedantic(
                lambda body: loop.run_until_complete(patch(body)),
                setup=lambda: ((next(todo),), {}),
                rounds=BATCH_ROUNDS,
                iterations=1,
            )
    finally:
        loop.run_until_complete(session.close())
    assert answers == [(200, {"updated": BATCH_N})] * BATCH_ROUNDS, answers[:1]
    assert _revoked(server, list_id) == BATCH_N * BATCH_ROUNDS
    benchmark.extra_info.update(
        {
            "revoked_read_back": BATCH_N * BATCH_ROUNDS,
            "body_bytes": len(bodies[0]),
            "per_second": round(BATCH_N / _stat(benchmark, "median")),
            "cpu_cores": cpu.cores,
        }
    )


def test_allocation_batches(
    benchmark: BenchmarkFixture, server: ServerProcess, loop: asyncio.AbstractEventLoop
) -> None:
    """ALLOC_REQUESTS allocations of ALLOC_COUNT indices per round, one after the other, on a
    100M-entry list. The answers are parsed after timing: all indices distinct, in range, with
    the list's URI, and the list's ``allocated`` counter read back."""
    benchmark.group = "HTTP allocation"
    doc = _create_list(server, ALLOC_LIST)
    list_id, uri = doc["id"], doc["uri"]
    url = f"{server.url}/v1/allocations"
    headers = {**_auth(server), "Content-Type": "application/json"}
    body = json.dumps({"count": ALLOC_COUNT, "list_id": list_id}).encode()
    answers: list[tuple[int, bytes]] = []
    session = loop.run_until_complete(_open_session(1))

    async def allocate_round() -> None:
        for _ in range(ALLOC_REQUESTS):
            async with session.post(url, data=body, headers=headers) as resp:
                answers.append((resp.status, await resp.read()))

    try:
        loop.run_until_complete(session.get(f"{server.url}/healthz"))
        with CpuMeter(server=_pid(server)) as cpu:
            benchmark.pedantic(
                lambda: loop.run_until_complete(allocate_round()),
                rounds=ALLOC_ROUNDS,
                iterations=1,
            )
    finally:
        loop.run_until_complete(session.close())
    total = ALLOC_COUNT * ALLOC_REQUESTS * ALLOC_ROUNDS
    assert {status for status, _ in answers} == {201}
    seen: set[int] = set()
    for _, raw in answers:
        entries = json.loads(raw)
        assert len(entries) == ALLOC_COUNT
        assert {e["status_list"]["uri"] for e in entries} == {uri}
        seen.update(e["status_list"]["idx"] for e in entries)
    assert len(seen) == total, "an index was handed out twice"
    assert min(seen) >= 0
    assert max(seen) < ALLOC_LIST
    allocated = server.api("GET", f"/v1/lists/{list_id}")["allocated"]
    assert allocated == total
    benchmark.extra_info.update(
        {
            "allocated_read_back": allocated,
            "per_second": round(ALLOC_COUNT * ALLOC_REQUESTS / _stat(benchmark, "median")),
            "response_bytes": len(answers[0][1]),
            "cpu_cores": cpu.cores,
        }
    )


@pytest.mark.parametrize("peer", ["nginx", "statuslist"])
def test_cached_get_vs_nginx(
    benchmark: BenchmarkFixture,
    request: pytest.FixtureRequest,
    server: ServerProcess,
    published_10m: tuple[str, bytes],
    generators: LoadGenerators,
    get_figures: dict[str, dict[str, Any]],
    peer: str,
) -> None:
    """GET_REQUESTS GETs of the same ~240 KB JWT per round over 50 keep-alive connections, from
    the same load generator, against nginx (first) and the service; req/s = N / median."""
    benchmark.group = f"HTTP cached GET of a {GET_LIST:,}-entry list token, 50 connections"
    path, token = published_10m
    if peer == "nginx":
        peer_proc: NginxProcess | ServerProcess = request.getfixturevalue("nginx")
    else:
        peer_proc = server
    url = peer_proc.url + path
    generators.get(url, 4 * GET_CONNECTIONS, GET_CONNECTIONS, token)  # connect, warm up
    results: list[dict[str, Any]] = []
    gens = {f"generator{i}": p.pid for i, p in enumerate(generators.procs) if p.pid}
    with CpuMeter(**{peer: _pid(peer_proc)}, **gens) as cpu:
        benchmark.pedantic(
            lambda: results.extend(generators.get(url, GET_REQUESTS, GET_CONNECTIONS, token)),
            rounds=GET_ROUNDS,
            iterations=1,
        )
    statuses: Counter[int] = Counter()
    wrong: Counter[str] = Counter()
    latencies: list[float] = []
    for r in results:
        statuses.update(r["statuses"])
        wrong.update(r["wrong"])
        latencies.extend(r["latencies"])
    assert statuses == {200: GET_REQUESTS * GET_ROUNDS}, statuses
    assert not wrong, f"responses differ from the published token: {dict(wrong)}"
    rate = GET_REQUESTS / _stat(benchmark, "median")
    figures = {
        "per_second": round(rate),
        "p50_ms": _ms(_quantile(latencies, 0.5)),
        "p99_ms": _ms(_quantile(latencies, 0.99)),
        "body_bytes": len(token),
        "body_sha256": hashlib.sha256(token).hexdigest()[:16],
        "generator_processes": GET_PROCESSES,
        "cpu_cores": cpu.cores,
        # CPU the peer spends per request, whatever limits the rate: its capacity on one core
        "peer_cpu_us_per_request": round(
            cpu.cores[peer] * _stat(benchmark, "total") / (GET_REQUESTS * GET_ROUNDS) * 1e6
        ),
    }
    get_figures[peer] = figures
    if peer == "statuslist" and "nginx" in get_figures:
        nginx_figures = get_figures["nginx"]
        figures["ratio_to_nginx"] = round(rate / nginx_figures["per_second"], 3)
        figures["cpu_per_request_vs_nginx"] = round(
            figures["peer_cpu_us_per_request"] / nginx_figures["peer_cpu_us_per_request"], 1
        )
    benchmark.extra_info.update(figures)


def test_publish_lag_under_load(
    benchmark: BenchmarkFixture, server: ServerProcess, loop: asyncio.AbstractEventLoop
) -> None:
    """While LAG_WRITERS writers (another process) revoke even indices of a 10M-entry list, the
    sampler revokes odd ones at random moments and polls the served token every 20 ms; a sample's
    lag is from its PUT's 2xx to the first GET whose token shows it. One round = LAG_SAMPLES
    samples; figures are over all rounds."""
    benchmark.group = "HTTP publish lag under load"
    list_id = _create_list(server, LAG_LIST)["id"]
    server.api("POST", f"/v1/lists/{list_id}/publish")
    rng = random.Random(13)
    writer_idx = array("Q", rng.sample(range(0, LAG_LIST, 2), 400_000))
    to_sample = iter(rng.sample(range(1, LAG_LIST, 2), LAG_SAMPLES * LAG_ROUNDS))
    base = f"{server.url}/v1/lists/{list_id}/entries"
    token_url = f"{server.url}/statuslists/{list_id}"

    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    parent, child = ctx.Pipe()
    writers = ctx.Process(
        target=_writers_main,
        args=(base, server.api_key, writer_idx.tobytes(), LAG_WRITERS, stop, child),
        daemon=True,
    )
    lags: list[float] = []
    sample_statuses: Counter[int] = Counter()
    session = loop.run_until_complete(_open_session(4))

    async def window(samples: list[int]) -> None:
        pending: dict[int, float] = {}
        done = asyncio.Event()
        headers = {**_auth(server), "Content-Type": "application/json"}

        async def revoke() -> None:
            for idx in samples:
                await asyncio.sleep(rng.uniform(0.05, 0.35))
                async with session.put(f"{base}/{idx}", data=INVALID_BODY, headers=headers) as r:
                    await r.read()
                sample_statuses[r.status] += 1
                if r.status == 200:
                    pending[idx] = time.perf_counter()
            done.set()

        async def poll() -> None:
            while not done.is_set() or pending:
                t0 = time.perf_counter()
                async with session.get(token_url, headers=GET_HEADERS) as r:
                    body = await r.read()
                got = time.perf_counter()
                assert r.status == 200, body[:300]
                _, sl = _decode_jwt(body)
                for idx, acked in list(pending.items()):
                    if sl[idx] == INVALID:
                        lags.append(got - acked)
                        del pending[idx]
                    elif got - acked > LAG_TIMEOUT:
                        pytest.fail(f"entry {idx} not published {LAG_TIMEOUT} s after its 2xx")
                await asyncio.sleep(max(0.0, LAG_POLL - (time.perf_counter() - t0)))

        await asyncio.gather(revoke(), poll())

    writers.start()
    try:
        if not parent.poll(60):
            pytest.fail("the writer process did not start")
        assert parent.recv() == "ready"
        time.sleep(1.0)  # let the load settle
        with CpuMeter(server=_pid(server), writers=writers.pid or 0) as cpu:
            benchmark.pedantic(
                lambda: loop.run_until_complete(
                    window(list(itertools.islice(to_sample, LAG_SAMPLES)))
                ),
                rounds=LAG_ROUNDS,
                iterations=1,
            )
    finally:
        stop.set()
        loop.run_until_complete(session.close())
        got = parent.recv() if parent.poll(60) else None
        writers.join(10)
        if writers.is_alive():
            writers.kill()
    assert got is not None, "the writer process did not report"
    writer_statuses, written, writer_elapsed = got
    n_samples = LAG_SAMPLES * LAG_ROUNDS
    assert sample_statuses == {200: n_samples}, sample_statuses
    assert writer_statuses == {200: written}, writer_statuses
    assert written < len(writer_idx), "the writers ran out of work before the sampling ended"
    assert len(lags) == n_samples
    assert _revoked(server, list_id) == written + n_samples
    benchmark.extra_info.update(
        {
            "samples": n_samples,
            "p50_ms": _ms(_quantile(lags, 0.5)),
            "p99_ms": _ms(_quantile(lags, 0.99)),
            "max_ms": _ms(max(lags)),
            "mean_ms": _ms(statistics.fmean(lags)),
            "writer_per_second": round(written / writer_elapsed),
            "revoked_read_back": written + n_samples,
            "cpu_cores": cpu.cores,
        }
    )
