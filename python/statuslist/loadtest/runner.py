"""The load generator: drives a running server through its public interface only.

One run, in order:

1. ``GET /healthz`` (the server's version) and ``GET /metrics`` (its RSS and CPU, when exposed)
   of every instance, and, with several, ``GET /openapi.json`` (the public base URL each reports:
   they must agree, being one deployment);
2. ``POST /v1/lists`` for each list (setup: timed, outside the measured window);
3. the measured window of ``duration`` seconds, in which run concurrently
   - the writers: ``POST /v1/allocations`` in batches, then revocations as single-entry ``PUT``
     and batch ``PATCH`` requests at ``concurrency``, paced to ``rate`` when one is given;
   - the fetchers: ``GET`` of the tokens, JWT and CWT, some with ``If-None-Match``;
   - the lag prober (its own thread and event loop, so a busy generator does not delay it): for
     sampled revocations, polls the list with the relying-party SDK (signature and claims
     checked, ``lst`` decoded) until a served token shows the new status;
4. the window ends at ``duration``, or earlier once all bounded work is done (revocations, and
   ``fetches`` when given); in-flight requests finish; acknowledged lag samples get up to
   ``lag_timeout`` to show up.

Several base URLs are instances of one deployment: every kind of request goes to them in turn
(:class:`~statuslist.loadtest.targets.RoundRobin`), token URIs are fetched from the instance whose
turn it is, and a lag sample written through one instance is probed on the next, so the figure
is the cross-instance lag. Only the given URLs (and ``--fetch-url``) are contacted: token URIs
outside them are refused (:class:`~statuslist.loadtest.targets.Targets`), redirects are not
followed. The lists it creates stay on the server (there is no delete in the API); it only ever
revokes entries it allocated itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import queue
import signal
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from statuslist import __version__
from statuslist.client import StatusListClient
from statuslist.exceptions import LoadtestError, StatusListError
from statuslist.loadtest.scenario import Scenario
from statuslist.loadtest.stats import OpStats, Timeline, percentile
from statuslist.loadtest.targets import RoundRobin, Tally, Targets

__all__ = ["LoadtestError", "Runner"]

INVALID = 1
_ORDER = {"create": 0, "allocate": 1, "revoke": 2, "fetch": 3}
MEDIA = {"jwt": "application/statuslist+jwt", "cwt": "application/statuslist+cwt"}


@dataclass(slots=True)
class _List:
    id: str
    uri: str
    created_via: str = ""
    # (URL to GET, base URL contacted) on each instance, by instance number
    locations: list[tuple[str, str]] = field(default_factory=list)
    allocated: array[int] = field(default_factory=lambda: array("Q"))
    allocated_elsewhere: int = 0  # by the other --processes workers (merged reports)


@dataclass(slots=True)
class _Sample:
    list_no: int
    uri: str  # the token's own URI (its sub)
    idx: int
    acked: float  # perf_counter at the 2xx
    acked_wall: float
    written_via: str = ""  # the instance that acknowledged the revocation
    location: str = ""  # where it is probed (another instance when there are several)
    probed_via: str = ""
    seen: float | None = None
    token_iat: int | None = None


def _detail(body: bytes) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace")
    if isinstance(doc, dict):
        return str(doc.get("detail") or doc.get("title") or doc)[:300]
    return str(doc)[:300]


class _LagProber:
    """Polls lists with pending samples through the SDK, in a thread with its own event loop."""

    def __init__(self, sc: Scenario, jwks_url: str) -> None:
        self.sc = sc
        self.jwks_url = jwks_url
        self.inbox: queue.SimpleQueue[_Sample] = queue.SimpleQueue()
        self.samples: list[_Sample] = []
        self.timeouts: list[_Sample] = []
        self.op = OpStats("lag probe (SDK)")
        self.timeline = Timeline()  # the prober's own (its thread's); merged into the run's
        self.origin = 0.0  # perf_counter at the start of the window
        self.resolved = 0
        self._finish = threading.Event()
        self._abandoned = threading.Event()
        self._thread = threading.Thread(target=self._main, name="lag-prober", daemon=True)
        self._warm: list[tuple[str, str, str]] = []
        self.started = False
        self.failure: BaseException | None = None
        # Probes per contacted base URL; written by the prober's thread only, read after it ends.
        self.tally = Tally()

    def start(self, warm: list[tuple[str, str, str]], origin: float) -> None:
        """Starts the thread; it first probes each (token URI, location, base URL) once.
        ``origin`` is the window's start, where the timeline's seconds count from."""
        self._warm = warm
        self.origin = origin
        self.started = True
        self._thread.start()

    def submit(self, sample: _Sample) -> None:
        self.inbox.put(sample)

    def finish(self) -> None:
        """No more samples come; returns when every sample is seen or timed out."""
        self._finish.set()
        self._thread.join()

    def abandon(self) -> None:
        """Stop now, pending samples or not (the run failed or was cut short)."""
        self._abandoned.set()
        self._finish.set()

    def _main(self) -> None:
        try:
            asyncio.run(self._loop())
        except BaseException as exc:  # reported by the runner, never lost
            self.failure = exc

    async def _loop(self) -> None:
        sc = self.sc
        timeout = aiohttp.ClientTimeout(total=sc.timeout)
        pending: dict[tuple[str, str, str], list[_Sample]] = {}
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            StatusListClient(
                jwks_url=self.jwks_url,
                formats=("jwt",),
                max_ttl=0,  # every call revalidates (If-None-Match): no client-side staleness
                max_redirects=0,
                max_bytes=max(16 << 20, sc.entries * sc.bits // 8 + 1),
                max_token_bytes=256 << 20,
                timeout=sc.timeout,
                session=session,
            ) as sdk,
        ):
            for uri, location, via in self._warm:  # later polls of an unchanged token: 304s
                await self._probe(sdk, uri, location, via)
            while True:
                while True:
                    try:
                        s = self.inbox.get_nowait()
                    except queue.Empty:
                        break
                    pending.setdefault((s.uri, s.location, s.probed_via), []).append(s)
                if self._abandoned.is_set():
                    return
                if not any(pending.values()) and self._finish.is_set() and self.inbox.empty():
                    return
                for (uri, location, via), waiting in pending.items():
                    if not waiting:
                        continue
                    verified = await self._probe(sdk, uri, location, via)
                    now = time.perf_counter()
                    still: list[_Sample] = []
                    for s in waiting:
                        if verified is not None and verified.status_list[s.idx] == INVALID:
                            s.seen, s.token_iat = now, verified.iat
                            self.samples.append(s)
                            self.resolved += 1
                        elif now - s.acked > self.sc.lag_timeout:
                            self.timeouts.append(s)
                        else:
                            still.append(s)
                    pending[(uri, location, via)] = still
                await asyncio.sleep(self.sc.lag_poll)

    async def _probe(self, sdk: StatusListClient, uri: str, location: str, via: str) -> Any:
        """One SDK poll of ``uri``'s token as ``location`` serves it (the token is still held
        to ``uri``: its ``sub`` is checked against it)."""
        t0 = time.perf_counter()
        self.op.started(t0)
        try:
            verified = await sdk.status_list(uri, location=None if location == uri else location)
        except StatusListError as exc:
            self.op.finished(time.perf_counter())
            self.op.failure(type(exc).__name__, str(exc))
            self.tally.add(via, self.op.name, error=True)
            self.timeline.record(self.op.name, time.perf_counter() - self.origin, ok=False)
            return None
        t1 = time.perf_counter()
        self.op.finished(t1)
        self.op.success(t1 - t0)
        self.timeline.record(self.op.name, t1 - self.origin, ok=True, latency=t1 - t0)
        self.tally.add(via, self.op.name, error=False)
        if verified.from_cache:
            self.op.not_modified += 1
        return verified


_Measured = tuple[list[str], list[dict[str, float]], list[dict[str, float]], float, float]


class Runner:
    """One load test against ``base_url``, or the instances of one deployment given as several
    base URLs; :meth:`run` returns the report as a dict."""

    def __init__(
        self,
        sc: Scenario,
        base_url: str | Sequence[str],
        api_key: str,
        *,
        progress: Callable[[Runner], None] | None = None,
        server_peak_rss: Callable[[], int | None] | None = None,
        spawned: bool = False,
        lists: Sequence[Mapping[str, str]] | None = None,
        observe_server: bool = True,
        start_gate: Callable[[], None] | None = None,
    ) -> None:
        """``lists`` (id, uri, created_via): lists created beforehand (by the parent of
        ``--processes`` workers), used instead of creating ``sc.lists`` new ones.
        ``observe_server``: sample the servers' ``/metrics`` every second (one worker does)."""
        self.sc = sc
        self.given_lists = list(lists) if lists is not None else None
        self.observe_server = observe_server
        self.start_gate = start_gate
        # (versions, /metrics before, /metrics after, wall-clock start, client CPU seconds)
        self._measured: _Measured | None = None
        self.timeline = Timeline()
        self.targets = Targets(
            [base_url] if isinstance(base_url, str) else base_url, fetch_url=sc.fetch_url
        )
        self.instances = self.targets.instances
        self.base = self.instances[0]  # setup requests that need only one instance go here
        self.tally = Tally()
        self._turns = RoundRobin(len(self.instances))  # the writers' (one generator at a time)
        self.auth = {"Authorization": f"Bearer {api_key}"}
        self.progress = progress
        self.server_peak_rss = server_peak_rss
        self.spawned = spawned
        self.ops: dict[str, OpStats] = {}
        self.lists: list[_List] = []
        self.revoked = 0
        self.fetched = 0
        self.window_start = 0.0
        self.elapsed = 0.0
        self.phase = "setup"
        self.stopping = asyncio.Event()
        self.prober: _LagProber | None = None
        self.server: dict[str, Any] = {}
        self._rss_peak_seen: list[int | None] = [None] * len(self.instances)
        self._fetch_issued = 0
        self._all_fetched = asyncio.Event()

    # -- plumbing ---------------------------------------------------------------------------

    def op(self, name: str) -> OpStats:
        stats = self.ops.get(name)
        if stats is None:
            stats = self.ops[name] = OpStats(name)
        return stats

    async def _call(
        self,
        session: aiohttp.ClientSession,
        op: OpStats,
        method: str,
        url: str,
        *,
        via: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201, 204),
        entries: int = 0,
        check: Callable[[int, bytes, Mapping[str, str]], str | None] | None = None,
    ) -> tuple[int | None, bytes, Mapping[str, str] | None]:
        """One request to ``url`` (under the base URL ``via``, where the per-instance counts go);
        a non-``ok`` status, a transport failure, or an ``ok`` answer that ``check`` finds
        wrong (it returns the cause) counts as an error of ``op``. Returns (status or None,
        body, headers)."""
        t0 = time.perf_counter()
        op.started(t0)
        try:
            async with session.request(
                method, url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                data = await resp.read()
                status, resp_headers = resp.status, resp.headers
        except TimeoutError:
            self._failed(op, via, "timeout")
            return None, b"", None
        except aiohttp.ClientError as exc:
            self._failed(op, via, type(exc).__name__, str(exc))
            return None, str(exc).encode(), None
        t1 = time.perf_counter()
        op.finished(t1)
        op.bytes_out += len(body or b"")
        op.bytes_in += len(data)
        cause: str | None = None
        message: str | None = None
        if status not in ok:
            cause, message = f"HTTP {status}", _detail(data)
        elif check is not None:
            cause = check(status, data, resp_headers)
        if cause is None:
            op.success(t1 - t0, entries=entries)
        else:
            op.failure(cause, message)
        self.tally.add(via, op.name, error=cause is not None)
        if self.window_start:  # setup (list creation) is not in the timeline
            self.timeline.record(
                op.name,
                t1 - self.window_start,
                ok=cause is None,
                latency=t1 - t0,
                entries=entries,
            )
        return status, data, resp_headers

    def _failed(self, op: OpStats, via: str, cause: str, message: str | None = None) -> None:
        t = time.perf_counter()
        op.finished(t)
        op.failure(cause, message)
        self.tally.add(via, op.name, error=True)
        if self.window_start:
            self.timeline.record(op.name, t - self.window_start, ok=False)

    def _json(self, doc: Any) -> bytes:
        return json.dumps(doc, separators=(",", ":")).encode()

    # -- the run ----------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        """The run; returns the report."""
        await self.measure()
        return self.report()

    def report(self) -> dict[str, Any]:
        """The report of a finished :meth:`measure` (or of merged :meth:`parts`)."""
        if self._measured is None:
            raise LoadtestError("no figures to report: the run did not finish")
        return self._report(*self._measured)

    async def measure(self) -> None:
        """The run, keeping every figure on ``self`` (see :meth:`parts`)."""
        self._measured = await self._measure()

    def parts(self) -> dict[str, Any]:
        """Every figure of a finished :meth:`measure`, picklable, for :meth:`absorb` in
        another process (``--processes``)."""
        prober = self.prober
        return {
            "ops": self.ops,
            "tally": self.tally,
            "timeline": self.timeline,
            "revoked": self.revoked,
            "fetched": self.fetched,
            "elapsed": self.elapsed,
            "allocated": [len(lst.allocated) for lst in self.lists],
            "rss_peak_seen": self._rss_peak_seen,
            "prober": None
            if prober is None
            else {
                "op": prober.op,
                "tally": prober.tally,
                "timeline": prober.timeline,
                "samples": prober.samples,
                "timeouts": prober.timeouts,
            },
            "measured": self._measured,
            "observer": self.observe_server,
        }

    def absorb(self, parts: dict[str, Any]) -> None:
        """Adds another process's :meth:`parts` to this (not run) runner's figures: counts
        summed, histograms merged bucket by bucket, timelines slot by slot, lag samples
        joined. The observing worker's server figures (``/metrics`` before and after) become
        this runner's."""
        for name, op in parts["ops"].items():
            self.op(name).merge(op)
        self.tally.merge(parts["tally"])
        self.timeline.merge(parts["timeline"])
        self.revoked += parts["revoked"]
        self.fetched += parts["fetched"]
        self.elapsed = max(self.elapsed, parts["elapsed"])
        for lst, n in zip(self.lists, parts["allocated"], strict=False):
            lst.allocated_elsewhere += n
        self._rss_peak_seen = [
            None if a is None and b is None else max(a or 0, b or 0)
            for a, b in zip(self._rss_peak_seen, parts["rss_peak_seen"], strict=True)
        ]
        if parts["prober"] is not None:
            if self.prober is None:
                self.prober = _LagProber(self.sc, f"{self.base}/.well-known/jwks.json")
            got = parts["prober"]
            self.prober.op.merge(got["op"])
            self.prober.tally.merge(got["tally"])
            self.prober.timeline.merge(got["timeline"])
            self.prober.samples.extend(got["samples"])
            self.prober.timeouts.extend(got["timeouts"])
        versions, before, after, started_wall, cpu = parts["measured"]
        mine = self._measured
        if mine is None:
            self._measured = parts["measured"]
            return
        if parts["observer"]:  # its /metrics figures stand for the run's
            mine = (versions, before, after, mine[3], mine[4])
        self._measured = (*mine[:3], min(mine[3], started_wall), mine[4] + cpu)

    async def setup_only(self) -> list[dict[str, str]]:
        """Checks the instances and creates the lists, for ``--processes`` workers to share;
        the ``create list`` figures stay on this runner."""
        timeout = aiohttp.ClientTimeout(total=self.sc.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as api:
            for base in self.instances:
                await self._health(api, base)
            if len(self.instances) > 1 and self.sc.fetch_url is None:
                self.targets.public_base = await self._public_base(api)
            await self._create_lists(api)
        return [{"id": x.id, "uri": x.uri, "created_via": x.created_via} for x in self.lists]

    async def _measure(self) -> _Measured:
        sc = self.sc
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):

            def interrupted() -> None:
                self.stopping.set()
                loop.remove_signal_handler(signal.SIGINT)  # a second ^C stops at once

            loop.add_signal_handler(signal.SIGINT, interrupted)
        timeout = aiohttp.ClientTimeout(total=sc.timeout)
        api_conn = aiohttp.TCPConnector(limit=sc.concurrency + 2, force_close=False)
        fetch_conn = aiohttp.TCPConnector(limit=max(sc.fetchers, 1))
        started_wall = time.time()
        cpu0 = time.process_time()
        async with (
            aiohttp.ClientSession(connector=api_conn, timeout=timeout) as api,
            aiohttp.ClientSession(
                connector=fetch_conn, timeout=timeout, auto_decompress=False
            ) as fetch,
        ):
            versions = [await self._health(api, base) for base in self.instances]
            if len(self.instances) > 1 and sc.fetch_url is None:
                self.targets.public_base = await self._public_base(api)
            before = [await self._server_metrics(api, base) for base in self.instances]
            await self._create_lists(api)
            # The instances share their keys (one deployment): the first one's JWKS will do.
            self.prober = _LagProber(sc, f"{self.base}/.well-known/jwks.json")
            if self.start_gate is not None:  # the other --processes workers are ready too
                await asyncio.to_thread(self.start_gate)
            self.window_start = time.perf_counter()
            if sc.lag_samples and sc.revocations:
                warm = {(lst.uri, *where) for lst in self.lists for where in lst.locations}
                self.prober.start(sorted(warm), self.window_start)
            deadline = self.window_start + sc.duration
            background = [
                asyncio.create_task(self._watch_metrics(api, n))
                for n in range(len(self.instances) if self.observe_server else 0)
            ]
            if self.progress is not None:
                background.append(asyncio.create_task(self._show_progress()))
            fetchers = [asyncio.create_task(self._fetcher(fetch, n)) for n in range(sc.fetchers)]
            writer = asyncio.create_task(self._writers(api, deadline))
            end_of_window = asyncio.create_task(self._end_of_window(writer, deadline))
            try:
                await end_of_window
                self.stopping.set()
                await writer
                await asyncio.gather(*fetchers)
                self.elapsed = time.perf_counter() - self.window_start
                self.phase = "publish lag"
                if self.prober.started:
                    await asyncio.to_thread(self.prober.finish)
            finally:
                self.stopping.set()
                if self.prober.started:
                    self.prober.abandon()  # a no-op once finish() has returned
                for task in (*background, *fetchers, writer, end_of_window):
                    task.cancel()
                await asyncio.gather(
                    *background, *fetchers, writer, end_of_window, return_exceptions=True
                )
            if self.prober.failure is not None:
                raise LoadtestError(f"the lag prober failed: {self.prober.failure!r}")
            after = [await self._server_metrics(api, base) for base in self.instances]
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGINT)
        return versions, before, after, started_wall, time.process_time() - cpu0

    async def _end_of_window(self, writer: asyncio.Task[None], deadline: float) -> None:
        """Returns at the deadline, on ^C, or when every bounded workload is done. Never cancels
        the workloads themselves: the caller stops them cleanly."""
        sc = self.sc
        stop = asyncio.create_task(self.stopping.wait())
        work: list[asyncio.Future[Any]] = []
        if sc.fetchers == 0 or sc.fetches is not None:  # bounded: ends when the work is done
            work.append(writer)
            if sc.fetchers and sc.fetches:
                work.append(asyncio.ensure_future(self._all_fetched.wait()))
        try:
            while not stop.done():
                left = deadline - time.perf_counter()
                if left <= 0 or (work and all(w.done() for w in work)):
                    return
                await asyncio.wait(
                    [stop, *(w for w in work if not w.done())],
                    timeout=left,
                    return_when="FIRST_COMPLETED",
                )
        finally:
            stop.cancel()
            for w in work[1:]:
                w.cancel()

    async def _health(self, api: aiohttp.ClientSession, base: str) -> str:
        try:
            async with api.get(f"{base}/healthz", allow_redirects=False) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise LoadtestError(
                        f"GET {base}/healthz answered HTTP {resp.status}: {_detail(body)}"
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LoadtestError(f"cannot reach {base}: {exc!r}") from None
        try:
            return str(json.loads(body)["version"])
        except (ValueError, KeyError, TypeError):
            raise LoadtestError(f"{base}/healthz is not a statuslist server") from None

    async def _public_base(self, api: aiohttp.ClientSession) -> str | None:
        """The public base URL the instances report (``servers`` of ``/openapi.json``), which
        their token URIs start with; ``None`` when none says. Instances that report different
        ones are not one deployment: the run would mix lists the others do not serve."""
        reported: dict[str, str] = {}
        for base in self.instances:
            try:
                async with api.get(f"{base}/openapi.json", allow_redirects=False) as resp:
                    body = await resp.read()
                    if resp.status != 200:
                        continue
                url = json.loads(body)["servers"][0]["url"]
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, IndexError, TypeError):
                continue
            if isinstance(url, str) and url:
                reported[base] = url.rstrip("/")
        if len(set(reported.values())) > 1:
            said = "; ".join(f"{base} says {url}" for base, url in reported.items())
            raise LoadtestError(
                f"the --url instances report different public base URLs ({said}): they are "
                f"not instances of one deployment"
            )
        return next(iter(reported.values()), None)

    async def _server_metrics(self, api: aiohttp.ClientSession, base: str) -> dict[str, float]:
        """Unlabelled samples of ``/metrics`` (RSS, CPU, commits, writes); {} when unavailable."""
        try:
            async with api.get(f"{base}/metrics", allow_redirects=False) as resp:
                if resp.status != 200:
                    return {}
                text = (await resp.read()).decode("utf-8", "replace")
        except (aiohttp.ClientError, TimeoutError):
            return {}
        out: dict[str, float] = {}
        for line in text.splitlines():
            if not line or line.startswith("#") or "{" in line:
                continue
            name, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                out[name] = float(value.split()[0])
        return out

    async def _watch_metrics(self, api: aiohttp.ClientSession, n: int) -> None:
        while True:
            m = await self._server_metrics(api, self.instances[n])
            rss = m.get("process_resident_memory_bytes")
            if rss is not None:
                self._rss_peak_seen[n] = max(self._rss_peak_seen[n] or 0, int(rss))
            cpu = m.get("process_cpu_seconds_total")
            if rss is not None or cpu is not None:
                t = time.perf_counter() - self.window_start
                self.timeline.record_server(n, t, rss, cpu)
            await asyncio.sleep(1.0)

    async def _create_lists(self, api: aiohttp.ClientSession) -> None:
        sc = self.sc
        if self.given_lists is not None:
            for given in self.given_lists:
                lst = _List(id=given["id"], uri=given["uri"], created_via=given["created_via"])
                self._locate(lst)
                self.lists.append(lst)
            return
        op = self.op("create list")
        doc = {"bits": sc.bits, "size": sc.entries, "formats": ["jwt", "cwt"]}
        for n in range(sc.lists):
            self.phase = f"creating list {n + 1}/{sc.lists}"
            base = self.instances[self._turns.next("create")]
            status, body, _ = await self._call(
                api,
                op,
                "POST",
                f"{base}/v1/lists",
                via=base,
                body=self._json(doc),
                headers={**self.auth, "Content-Type": "application/json"},
                ok=(201,),
            )
            if status != 201:
                what = f"HTTP {status}: {_detail(body)}" if status else body.decode()
                raise LoadtestError(f"creating a list of {sc.entries:,} entries failed: {what}")
            created = json.loads(body)
            lst = _List(id=str(created["id"]), uri=str(created["uri"]), created_via=base)
            self._locate(lst)
            self.lists.append(lst)

    def _locate(self, lst: _List) -> None:
        for i in range(len(self.instances)):
            where = self.targets.locate(lst.uri, i)
            if where is None:
                raise LoadtestError(
                    f"the server publishes list {lst.id} at {lst.uri}, outside "
                    f"{self.targets.allowed()}; the load test only contacts the "
                    f"URL{'s' if len(self.instances) > 1 else ''} it is given "
                    f"(pass --fetch-url to allow fetching from that base)"
                )
            lst.locations.append(where)

    # -- writers ----------------------------------------------------------------------------

    async def _writers(self, api: aiohttp.ClientSession, deadline: float) -> None:
        sc = self.sc
        self.phase = "allocating"
        await self._pool(api, self._allocation_jobs(), sc.concurrency, deadline)
        if self.stopping.is_set() or time.perf_counter() >= deadline:
            return
        self.phase = "revoking"
        self._rev_start = time.perf_counter()
        self._rev_issued = 0
        await self._pool(api, self._revocation_jobs(), sc.concurrency, deadline)
        self.phase = "fetching" if sc.fetchers else "finishing"

    async def _pool(
        self,
        api: aiohttp.ClientSession,
        jobs: Iterator[Callable[[aiohttp.ClientSession], Any]],
        workers: int,
        deadline: float,
    ) -> None:
        async def worker() -> None:
            for job in jobs:  # one shared iterator: each job runs once
                if self.stopping.is_set() or time.perf_counter() >= deadline:
                    return
                await job(api)

        await asyncio.gather(*(worker() for _ in range(workers)))

    def _allocation_jobs(self) -> Iterator[Callable[[aiohttp.ClientSession], Any]]:
        sc = self.sc
        total = sc.planned_allocations
        share = [total // sc.lists + (1 if n < total % sc.lists else 0) for n in range(sc.lists)]
        op = self.op("allocate")
        while any(share):
            for n, lst in enumerate(self.lists):
                count = min(share[n], sc.allocation_batch)
                if not count:
                    continue
                share[n] -= count
                base = self.instances[self._turns.next(("allocate", n), n)]

                async def job(
                    api: aiohttp.ClientSession,
                    lst: _List = lst,
                    count: int = count,
                    base: str = base,
                ) -> None:
                    status, body, _ = await self._call(
                        api,
                        op,
                        "POST",
                        f"{base}/v1/allocations",
                        via=base,
                        body=self._json({"count": count, "list_id": lst.id}),
                        headers={**self.auth, "Content-Type": "application/json"},
                        ok=(201,),
                        entries=count,
                    )
                    if status == 201:
                        lst.allocated.extend(int(e["status_list"]["idx"]) for e in json.loads(body))

                yield job

    def _revocation_jobs(self) -> Iterator[Callable[[aiohttp.ClientSession], Any]]:
        sc = self.sc
        available = sum(len(lst.allocated) for lst in self.lists)
        total = min(sc.revocations, available)
        if total < sc.revocations:
            self.op("revoke (batch)" if sc.single_share < 1 else "revoke (single)").failure(
                "not allocated", f"{sc.revocations - total:,} revocations skipped: too few entries"
            )
        quota = [0] * len(self.lists)
        for n in range(total):  # spread over the lists in proportion to what each has
            quota[n % len(self.lists)] += 1
        for n, lst in enumerate(self.lists):  # a list short of entries hands its share on
            spare = quota[n] - len(lst.allocated)
            if spare > 0:
                quota[n] = len(lst.allocated)
                for m in range(len(self.lists)):
                    room = len(self.lists[m].allocated) - quota[m]
                    take = min(room, spare)
                    quota[m] += take
                    spare -= take
        requests = sum(1 for _ in self._revocation_plan(quota))
        wanted = min(sc.lag_samples, requests)
        # `wanted` requests spread evenly over the run are sampled (the first entry of each).
        sampled = {r * requests // wanted for r in range(wanted)} if wanted else set()
        single_op, batch_op = self.op("revoke (single)"), self.op("revoke (batch)")
        for r, (n, start, size, single) in enumerate(self._revocation_plan(quota)):
            lst = self.lists[n]
            indices = lst.allocated[start : start + size]
            sample_at = int(indices[0]) if r in sampled else None
            via = self._turns.next(("single" if single else "batch", n), n)
            if single:
                yield self._single_job(single_op, n, lst, int(indices[0]), sample_at, via)
            else:
                yield self._batch_job(batch_op, n, lst, indices, sample_at, via)

    def _revocation_plan(self, quota: list[int]) -> Iterator[tuple[int, int, int, bool]]:
        """(list number, first position in its allocated entries, entries, single?) per request:
        lists in turn; single PUTs interleaved so they carry ``single_share`` of the entries."""
        sc = self.sc
        cursor = [0] * len(quota)
        total = sum(quota)
        singles = done = 0
        while done < total:
            for n, q in enumerate(quota):
                left = q - cursor[n]
                if left <= 0:
                    continue
                single = sc.single_share > 0 and singles < sc.single_share * (done + 1)
                size = 1 if single else min(sc.batch_size, left)
                yield n, cursor[n], size, single
                cursor[n] += size
                singles += single
                done += size
                if done >= total:
                    return

    async def _pace(self, entries: int) -> None:
        rate = self.sc.rate
        if rate is None:
            return
        due = self._rev_start + self._rev_issued / rate
        self._rev_issued += entries
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)

    def _acked(self, list_no: int, lst: _List, idx: int | None, entries: int, via: int) -> None:
        """Counts an acknowledged revocation; a sampled one (``idx``) goes to the prober, to be
        probed on the next instance after ``via``, the one that acknowledged it (the same one
        when there is only one)."""
        self.revoked += entries
        if idx is not None and self.prober is not None:
            location, probed_via = lst.locations[(via + 1) % len(self.instances)]
            self.prober.submit(
                _Sample(
                    list_no,
                    lst.uri,
                    idx,
                    acked=time.perf_counter(),
                    acked_wall=time.time(),
                    written_via=self.instances[via],
                    location=location,
                    probed_via=probed_via,
                )
            )

    def _single_job(
        self, op: OpStats, list_no: int, lst: _List, idx: int, sample: int | None, via: int
    ) -> Callable[[aiohttp.ClientSession], Any]:
        base = self.instances[via]

        async def job(api: aiohttp.ClientSession) -> None:
            await self._pace(1)
            status, _, _ = await self._call(
                api,
                op,
                "PUT",
                f"{base}/v1/lists/{lst.id}/entries/{idx}",
                via=base,
                body=b'{"status":"INVALID"}',
                headers={**self.auth, "Content-Type": "application/json"},
                ok=(200, 204),
                entries=1,
            )
            if status in (200, 204):
                self._acked(list_no, lst, sample, 1, via)

        return job

    def _batch_job(
        self,
        op: OpStats,
        list_no: int,
        lst: _List,
        indices: array[int],
        sample: int | None,
        via: int,
    ) -> Callable[[aiohttp.ClientSession], Any]:
        base = self.instances[via]

        async def job(api: aiohttp.ClientSession) -> None:
            await self._pace(len(indices))
            url = f"{base}/v1/lists/{lst.id}/entries"
            if self.sc.batch_encoding == "binary":
                raw = array("Q", indices)
                if sys.byteorder != "little":  # pragma: no cover - the wire format is LE
                    raw.byteswap()
                body, ctype = raw.tobytes(), "application/octet-stream"
                url += "?status=INVALID"
            else:
                body = self._json({"indices": indices.tolist(), "status": "INVALID"})
                ctype = "application/json"
            status, _, _ = await self._call(
                api,
                op,
                "PATCH",
                url,
                via=base,
                body=body,
                headers={**self.auth, "Content-Type": ctype},
                ok=(200, 204),
                entries=len(indices),
            )
            if status in (200, 204):
                self._acked(list_no, lst, sample, len(indices), via)

        return job

    # -- fetchers ---------------------------------------------------------------------------

    async def _fetcher(self, session: aiohttp.ClientSession, n: int) -> None:
        """One relying party. Each kind of fetch (list, format, conditional or not) goes to the
        instances in turn; ETags are kept per instance, so a conditional fetch revalidates what
        that instance served (instances sign on their own, and their tokens differ)."""
        sc = self.sc
        etags: dict[tuple[int, str, str], str] = {}
        turns = RoundRobin(len(self.instances), start=n)
        k = n  # fetchers start at different lists and formats
        share = sc.conditional_share
        while not self.stopping.is_set():
            if sc.fetches is not None:
                if self._fetch_issued >= sc.fetches:
                    return
                self._fetch_issued += 1
            # Every (list, format) pair in turn; each pair's requests are conditional in the
            # proportion asked for, spread evenly.
            combos = len(self.lists) * len(sc.formats)
            list_no = k % len(self.lists)
            fmt = sc.formats[(k // len(self.lists)) % len(sc.formats)]
            j = k // combos
            conditional = math.floor((j + 1) * share) > math.floor(j * share)
            k += 1
            url, via = self.lists[list_no].locations[
                turns.next((list_no, fmt, conditional), list_no)
            ]
            etag = etags.get((list_no, fmt, via)) if conditional else None
            headers = {"Accept": MEDIA[fmt], "Accept-Encoding": "gzip"}
            name = f"fetch {fmt}"
            if conditional:
                name += " If-None-Match"
                if etag is not None:
                    headers["If-None-Match"] = etag
            op = self.op(name)

            def check(
                status: int,
                body: bytes,
                hdrs: Mapping[str, str],
                fmt: str = fmt,
                asked: bool = conditional and etag is not None,
            ) -> str | None:
                if status == 304:  # never asked for: not a valid answer
                    return None if asked else "HTTP 304 unasked"
                ctype = str(hdrs.get("Content-Type", "")).split(";")[0].strip()
                if ctype != MEDIA[fmt] or not body:
                    return f"wrong Content-Type {ctype!r}" if body else "empty body"
                return None

            status, body, resp_headers = await self._call(
                session, op, "GET", url, via=via, headers=headers, ok=(200, 304), check=check
            )
            if status == 304:
                op.not_modified += 1
            elif (
                status == 200
                and resp_headers is not None
                and check(200, body, resp_headers) is None
            ):
                tag = resp_headers.get("ETag")
                if tag is not None:
                    etags[(list_no, fmt, via)] = str(tag)
            self.fetched += 1
            if sc.fetches is not None and self.fetched >= sc.fetches:
                self._all_fetched.set()

    # -- progress and report ----------------------------------------------------------------

    async def _show_progress(self) -> None:
        while self.progress is not None:
            self.progress(self)
            await asyncio.sleep(0.5)

    def _server_figures(
        self, n: int, before: dict[str, float], after: dict[str, float]
    ) -> dict[str, Any]:
        """What instance ``n``'s ``/metrics`` (and VmHWM when spawned) say of the run."""
        server: dict[str, Any] = {}
        if "process_resident_memory_bytes" in after:
            server["rss_bytes_start"] = int(before.get("process_resident_memory_bytes", 0))
            server["rss_bytes_end"] = int(after["process_resident_memory_bytes"])
        # VmHWM is the spawned server's, and --spawn starts one instance only.
        peak = self.server_peak_rss() if self.server_peak_rss is not None and n == 0 else None
        seen = max(self._rss_peak_seen[n] or 0, int(after.get("process_resident_memory_bytes", 0)))
        server["rss_bytes_peak"] = peak if peak is not None else (seen or None)
        server["rss_peak_source"] = "VmHWM" if peak is not None else "sampled /metrics, 1 s"
        if "process_cpu_seconds_total" in after:
            server["cpu_seconds"] = round(
                after["process_cpu_seconds_total"] - before.get("process_cpu_seconds_total", 0), 2
            )
        commits = after.get("statuslist_storage_commits", 0) - before.get(
            "statuslist_storage_commits", 0
        )
        writes = after.get("statuslist_storage_writes", 0) - before.get(
            "statuslist_storage_writes", 0
        )
        if commits > 0:
            server["commits"] = int(commits)
            server["writes_per_commit"] = round(writes / commits, 1)
        rounds = after.get("statuslist_publish_duration_seconds_count", 0) - before.get(
            "statuslist_publish_duration_seconds_count", 0
        )
        if rounds > 0:  # encode + sign + persist, as the server measures it
            server["publish_rounds"] = int(rounds)
            server["publish_seconds"] = round(
                after["statuslist_publish_duration_seconds_sum"]
                - before.get("statuslist_publish_duration_seconds_sum", 0),
                3,
            )
        return server

    def _report(
        self,
        versions: list[str],
        before: list[dict[str, float]],
        after: list[dict[str, float]],
        started_wall: float,
        client_cpu: float,
    ) -> dict[str, Any]:
        sc = self.sc
        prober = self.prober
        lags = [s.seen - s.acked for s in prober.samples if s.seen is not None] if prober else []
        used = [(k, o) for k, o in self.ops.items() if o.ok or o.error_count]
        ops = dict(sorted(used, key=lambda kv: _ORDER.get(kv[0].split()[0], 9)))
        if prober is not None and prober.op.ok + prober.op.error_count:
            ops[prober.op.name] = prober.op
        figures = [self._server_figures(n, before[n], after[n]) for n in range(len(versions))]
        server: dict[str, Any] = {"url": self.base, "version": versions[0], "spawned": self.spawned}
        if len(self.instances) == 1:
            server.update(figures[0])
        else:  # each instance's own figures are in per_instance: a sum would hide which is which
            server["version"] = ", ".join(dict.fromkeys(versions))
            server["instances"] = len(self.instances)
        tally = Tally()
        tally.merge(self.tally)
        if prober is not None:
            tally.merge(prober.tally)  # the prober's thread has ended (finished or abandoned)
        per_instance = tally.report(self.instances, list(ops))
        for entry in per_instance:
            if entry["url"] in self.instances:
                n = self.instances.index(entry["url"])
                entry["role"] = "instance"
                entry["server"] = {"version": versions[n], **figures[n]}
            else:
                entry["role"] = "fetch-url"
        errors = sum(o.error_count for o in ops.values())
        lag_doc: dict[str, Any] = {
            "requested": sc.lag_samples if sc.revocations else 0,
            "measured": len(lags),
            "timed_out": len(prober.timeouts) if prober else 0,
            "poll_interval_ms": round(sc.lag_poll * 1e3, 1),
        }
        if lags:
            lag_doc.update(
                {
                    "p50_ms": round(percentile(lags, 0.50) * 1e3, 1),
                    "p90_ms": round(percentile(lags, 0.90) * 1e3, 1),
                    "p99_ms": round(percentile(lags, 0.99) * 1e3, 1),
                    "max_ms": round(max(lags) * 1e3, 1),
                    "min_ms": round(min(lags) * 1e3, 1),
                }
            )
        lag_doc["samples"] = [
            {
                "list": self.lists[s.list_no].id,
                "idx": s.idx,
                "acked_at": round(s.acked_wall, 3),
                "lag_ms": round((s.seen - s.acked) * 1e3, 1),
                "token_iat": s.token_iat,
                "written_via": s.written_via,
                "probed_via": s.probed_via,
            }
            for s in (prober.samples if prober else [])
            if s.seen is not None
        ]
        timeline = Timeline()
        timeline.merge(self.timeline)
        if prober is not None:
            timeline.merge(prober.timeline)
        return {
            "tool": f"statuslist loadtest {__version__}",
            "started_at": round(started_wall, 3),
            "scenario": sc.public(),
            "server": server,
            "lists": [
                {
                    "id": lst.id,
                    "uri": lst.uri,
                    "allocated": len(lst.allocated) + lst.allocated_elsewhere,
                    "created_via": lst.created_via,
                }
                for lst in self.lists
            ],
            "window_seconds": round(self.elapsed, 3),
            "revoked": self.revoked,
            "fetched": self.fetched,
            "errors": errors + lag_doc["timed_out"],
            "operations": {name: o.as_dict() for name, o in ops.items()},
            "per_instance": per_instance,
            "publish_lag": lag_doc,
            "client": {"cpu_seconds": round(client_cpu, 2), "python": sys.version.split()[0]},
            "timeline": timeline.as_dict(list(self.instances), self.elapsed),
        }
