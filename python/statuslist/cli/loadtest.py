"""``loadtest``: load a running server (or a spawned one) and report throughput, latency, errors
and publish lag; the work is :mod:`statuslist.loadtest`'s, imported only when this verb runs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``loadtest``."""
    lt = subparsers.add_parser(
        "loadtest",
        help="load a running server (or a spawned one) and report throughput, latency, lag",
        description="Creates lists, allocates, revokes (single PUT and batch PATCH) and fetches "
        "tokens concurrently against --url (or a fresh local server with --spawn); several "
        "--url values are instances of one deployment, loaded in turn; reports "
        "throughput, latency p50/p90/p99/max, errors by status code, bytes and publish lag. "
        "Counts accept 200k, 10M, 1e6. It creates lists on the server and revokes only entries "
        "it allocated itself.",
    )
    target = lt.add_argument_group("target")
    target.add_argument(
        "--url",
        action="append",
        default=None,
        help="base URL of a running statuslist server; repeat it or separate URLs by commas "
        "for several instances of one deployment (one database, one public URL)",
    )
    target.add_argument(
        "--api-key", default=None, help="write-scoped bearer key (default: $STATUSLIST_API_KEY)"
    )
    target.add_argument(
        "--spawn", action="store_true", help="start a fresh local server in a temp dir, then stop"
    )
    target.add_argument(
        "--fetch-url", default=None, help="allow fetching tokens under this base (a CDN)"
    )
    target.add_argument("--publish-interval", type=float, default=None, help="(--spawn) seconds")
    target.add_argument("--server-config", type=Path, default=None, help="(--spawn) TOML file")
    target.add_argument("--keep-data", action="store_true", help="(--spawn) keep the data dir")
    work = lt.add_argument_group("scenario")
    work.add_argument("--lists", type=_count, default=1, help="lists to create (1)")
    work.add_argument("--entries", type=_count, default=1_000_000, help="entries per list (1M)")
    work.add_argument("--bits", type=int, default=1, help="bits per entry (1)")
    work.add_argument(
        "--allocations", type=_count, default=None, help="entries to allocate (= revocations)"
    )
    work.add_argument(
        "--allocation-batch", type=_count, default=10_000, help="entries per allocation (10k)"
    )
    work.add_argument("--revocations", type=_count, default=100_000, help="entries (100k)")
    work.add_argument("--batch-size", type=_count, default=1_000, help="entries per PATCH (1000)")
    work.add_argument(
        "--single-share",
        type=float,
        default=0.05,
        help="fraction of revocations sent as single-entry PUTs (0.05)",
    )
    work.add_argument("--batch-encoding", choices=("json", "binary"), default="json")
    work.add_argument("--rate", type=float, default=None, help="revocations/s (max speed)")
    work.add_argument("--concurrency", type=int, default=32, help="writer requests in flight (32)")
    work.add_argument("--fetchers", type=int, default=10, help="concurrent token fetchers (10)")
    work.add_argument("--fetches", type=_count, default=None, help="stop after this many GETs")
    work.add_argument("--formats", default="jwt,cwt", help="token formats to fetch (jwt,cwt)")
    work.add_argument(
        "--conditional-share",
        type=float,
        default=0.5,
        help="fraction of fetches sent with If-None-Match (0.5)",
    )
    work.add_argument("--lag-samples", type=_count, default=100, help="revocations sampled (100)")
    work.add_argument("--lag-poll", type=float, default=0.05, help="lag poll seconds (0.05)")
    work.add_argument("--lag-timeout", type=float, default=30.0, help="seconds (30)")
    work.add_argument("--duration", type=float, default=60.0, help="window in seconds (60)")
    work.add_argument("--timeout", type=float, default=60.0, help="per request, seconds (60)")
    work.add_argument(
        "--processes",
        type=int,
        default=1,
        help="load-generating processes, each running a share of the scenario; their figures "
        "are merged exactly (1)",
    )
    out = lt.add_argument_group("output")
    out.add_argument("--json", type=Path, default=None, help="write every figure here")
    out.add_argument(
        "--html",
        type=Path,
        default=None,
        help="write a self-contained HTML report with charts here (needs the [report] extra: "
        "matplotlib)",
    )
    out.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="live progress line on stderr (auto: when stderr is a terminal)",
    )
    lt.set_defaults(handler=_loadtest)


def _count(text: str) -> int:
    from statuslist.loadtest import parse_count

    try:
        return parse_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _loadtest(args: argparse.Namespace) -> int:
    from statuslist.loadtest import Scenario, execute

    # Repeated --url values are joined: the Scenario splits (and checks) both forms alike.
    url = ",".join(args.url) if args.url else None
    sc = Scenario(
        url=url,
        api_key=args.api_key or (os.environ.get("STATUSLIST_API_KEY") if url else None),
        spawn=args.spawn,
        fetch_url=args.fetch_url,
        lists=args.lists,
        entries=args.entries,
        bits=args.bits,
        allocations=args.allocations,
        allocation_batch=args.allocation_batch,
        revocations=args.revocations,
        batch_size=args.batch_size,
        single_share=args.single_share,
        batch_encoding=args.batch_encoding,
        rate=args.rate,
        concurrency=args.concurrency,
        fetchers=args.fetchers,
        fetches=args.fetches,
        formats=tuple(f.strip() for f in args.formats.split(",") if f.strip()),
        conditional_share=args.conditional_share,
        lag_samples=args.lag_samples,
        lag_poll=args.lag_poll,
        lag_timeout=args.lag_timeout,
        duration=args.duration,
        timeout=args.timeout,
        processes=args.processes,
        publish_interval=args.publish_interval,
        server_config=args.server_config,
    )
    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    return execute(
        sc,
        json_path=args.json,
        html_path=args.html,
        show_progress=show,
        keep_data=args.keep_data,
    )
