"""``statuslist loadtest``: drive a running server like issuers and relying parties do, and report
throughput, latency, errors and publish lag. See :mod:`statuslist.loadtest.runner` for what a run
does and :class:`Scenario` for every knob."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from statuslist.loadtest.report import Progress, render_table
from statuslist.loadtest.runner import LoadtestError, Runner
from statuslist.loadtest.scenario import Scenario, parse_count
from statuslist.loadtest.spawn import spawned_server

__all__ = ["LoadtestError", "Scenario", "execute", "parse_count", "run"]


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it exists
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(
    sc: Scenario,
    base_url: str | Sequence[str],
    api_key: str,
    *,
    progress: Callable[[Runner], None] | None = None,
    server_peak_rss: Callable[[], int | None] | None = None,
    spawned: bool = False,
) -> dict[str, Any]:
    """One run against a server that is already up (or several instances of one deployment:
    a sequence of base URLs); returns the report. With ``sc.processes`` > 1 the load comes from
    that many worker processes and the report is their figures merged."""
    if sc.processes > 1:
        from statuslist.loadtest.processes import run_processes

        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        return run_processes(sc, urls, api_key, server_peak_rss=server_peak_rss, spawned=spawned)
    runner = Runner(
        sc,
        base_url,
        api_key,
        progress=progress,
        server_peak_rss=server_peak_rss,
        spawned=spawned,
    )
    with asyncio.Runner(loop_factory=_new_loop) as loop:
        return loop.run(runner.run())


def execute(
    sc: Scenario,
    *,
    json_path: Path | None,
    show_progress: bool,
    keep_data: bool,
    html_path: Path | None = None,
) -> int:
    """What the CLI runs: the scenario (spawning a server if asked), the table on stdout, the
    JSON file and the HTML page. Exit code 0 when every request succeeded and every lag sample
    was seen, else 1."""
    for option, path in (("--json", json_path), ("--html", html_path)):
        if path is not None and not path.parent.is_dir():
            raise ValueError(f"{option}: directory {path.parent} does not exist")
    if html_path is not None:
        from statuslist.loadtest.html import require

        require()  # before the run, not after it
    # The progress line reads one runner's counters: not shown with several processes.
    progress = Progress(sys.stderr) if show_progress and sc.processes == 1 else None
    try:
        if sc.spawn:
            with spawned_server(
                publish_interval=sc.publish_interval, config=sc.server_config, keep=keep_data
            ) as server:
                report = run(
                    sc,
                    server.url,
                    server.api_key,
                    progress=progress,
                    server_peak_rss=server.peak_rss,
                    spawned=True,
                )
        else:
            if not sc.urls or sc.api_key is None:  # pragma: no cover - Scenario checks
                raise ValueError("--url and --api-key are required without --spawn")
            report = run(sc, sc.urls, sc.api_key, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2) + "\n")
    if html_path is not None:
        from statuslist.loadtest.html import render_html

        html_path.write_text(render_html(report), encoding="utf-8")
    print(render_table(report))
    for path in (json_path, html_path):
        if path is not None:
            print(f"wrote {path}", file=sys.stderr)
    return 1 if report["errors"] else 0
