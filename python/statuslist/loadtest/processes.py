"""``--processes N``: the load generator in N worker processes, so that on a bigger host one
Python process is not the bottleneck.

The parent checks the instances and creates the lists once; each worker (a fresh interpreter,
``spawn`` start method) runs :meth:`Scenario.shares`' part against those lists, all windows
opening together (a barrier), and sends back its raw figures (:meth:`Runner.parts`). The
parent merges them exactly: counts summed, latency histograms merged bucket by bucket,
per-second timelines slot by slot, lag samples joined (their percentiles computed over all of
them). The first worker alone samples the servers' ``/metrics`` (RSS, CPU, commits), so they are
counted once.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.synchronize import Barrier
from typing import Any

from statuslist.exceptions import LoadtestError
from statuslist.loadtest.runner import Runner
from statuslist.loadtest.scenario import Scenario

__all__ = ["run_processes"]

#: How long a worker waits for the others at the start of the window.
_GATE_TIMEOUT = 600.0


def _worker(
    share: Scenario,
    lists: list[dict[str, str]],
    observe: bool,
    gate: Barrier,
    results: multiprocessing.Queue[tuple[int, str, Any]],
    number: int,
) -> None:
    """One worker: its share of the scenario; ("ok", parts) or ("error", text) on ``results``."""
    from statuslist.loadtest import _new_loop

    try:

        def wait() -> None:
            try:
                gate.wait(_GATE_TIMEOUT)
            except threading.BrokenBarrierError:
                raise LoadtestError("another load process failed before the window") from None

        runner = Runner(
            share,
            share.urls,
            share.api_key or "",
            lists=lists,
            observe_server=observe,
            start_gate=wait,
        )
        with asyncio.Runner(loop_factory=_new_loop) as loop:
            loop.run(runner.measure())
        results.put((number, "ok", runner.parts()))
    except BaseException as exc:
        gate.abort()
        detail = str(exc) if isinstance(exc, LoadtestError) else traceback.format_exc()
        results.put((number, "error", detail))


def run_processes(
    sc: Scenario,
    urls: Sequence[str],
    api_key: str,
    *,
    server_peak_rss: Callable[[], int | None] | None = None,
    spawned: bool = False,
    parts_out: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The run of ``sc`` in ``sc.processes`` workers; returns the merged report. ``parts_out``,
    when given, receives each worker's own figures (tests check the merge against them)."""
    from statuslist.loadtest import _new_loop

    merged = Runner(sc, urls, api_key, server_peak_rss=server_peak_rss, spawned=spawned)
    with asyncio.Runner(loop_factory=_new_loop) as loop:
        lists = loop.run(merged.setup_only())
    shares = sc.shares(urls, api_key)
    ctx = multiprocessing.get_context("spawn")
    gate = ctx.Barrier(len(shares))
    results: multiprocessing.Queue[tuple[int, str, Any]] = ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker,
            args=(share, lists, n == 0, gate, results, n),
            name=f"statuslist-loadtest-{n}",
            daemon=True,
        )
        for n, share in enumerate(shares)
    ]
    for proc in procs:
        proc.start()
    got: dict[int, tuple[str, Any]] = {}
    interrupted = False
    try:
        while len(got) < len(procs):
            try:
                number, kind, value = results.get(timeout=1.0)
            except KeyboardInterrupt:
                # ^C reached the workers too (one process group): each ends its window early
                # and still reports, as a single process does. A second ^C stops them.
                if interrupted:
                    raise
                interrupted = True
                continue
            except queue.Empty:
                dead = [p for n, p in enumerate(procs) if n not in got and p.exitcode is not None]
                if dead:
                    time.sleep(0.5)  # a result sent just before exiting may still be in transit
                    if results.empty():
                        gate.abort()
                        raise LoadtestError(
                            f"load process {dead[0].name} exited with code {dead[0].exitcode} "
                            f"without a result"
                        ) from None
                continue
            got[number] = (kind, value)
            if kind == "error":
                gate.abort()
    finally:
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():  # pragma: no cover - a worker stuck past its own timeouts
                proc.kill()
                proc.join()
    errors = [f"load process {n}: {v}" for n, (k, v) in sorted(got.items()) if k == "error"]
    if errors:
        raise LoadtestError("; ".join(errors))
    # The observer's figures first: its /metrics readings stand for the run's.
    for n in sorted(got):
        merged.absorb(got[n][1])
        if parts_out is not None:
            parts_out.append(got[n][1])
    return merged.report()
