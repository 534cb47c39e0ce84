"""Human output of a load test: the live progress line and the summary table."""

from __future__ import annotations

import time
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from statuslist.loadtest.runner import Runner

__all__ = ["Progress", "render_table", "summary_rows"]

_COLUMNS = (
    ("operation", "<"),
    ("ok", ">"),
    ("errors", ">"),
    ("req/s", ">"),
    ("entries/s", ">"),
    ("p50 ms", ">"),
    ("p90 ms", ">"),
    ("p99 ms", ">"),
    ("max ms", ">"),
    ("MB in", ">"),
    ("MB out", ">"),
)


def _ms(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f}"


def _row(name: str, op: dict[str, Any]) -> list[str]:
    lat = op["latency_ms"]
    has_lat = op["ok"] > 0
    label = name + (f" (304: {op['not_modified']:,})" if op["not_modified"] else "")
    return [
        label,
        f"{op['ok']:,}",
        f"{op['errors']:,}",
        f"{op['requests_per_s']:,.1f}" if op["ok"] else "0",
        f"{op['entries_per_s']:,.0f}" if op["entries"] else "-",
        *(_ms(lat[k]) if has_lat else "-" for k in ("p50", "p90", "p99", "max")),
        _mb(op["bytes_in"]),
        _mb(op["bytes_out"]),
    ]


def summary_rows(report: dict[str, Any]) -> list[list[str]]:
    """The summary table: a header row, then one row per operation (the text table's and the
    HTML page's)."""
    rows = [[c for c, _ in _COLUMNS]]
    rows += [_row(name, op) for name, op in report["operations"].items()]
    return rows


def _scenario_line(sc: dict[str, Any]) -> str:
    lists = f"{sc['lists']} list{'s' if sc['lists'] > 1 else ''}"
    bits = f"{sc['bits']} bit{'s' if sc['bits'] > 1 else ''}"
    pace = f"{sc['rate']:,.0f}/s" if sc["rate"] else "as fast as possible"
    fetch = (
        f"{sc['fetchers']} fetchers ({','.join(sc['formats'])}; "
        f"{sc['conditional_share']:.0%} If-None-Match"
        + (f"; {sc['fetches']:,} fetches" if sc["fetches"] is not None else "")
        + ")"
        if sc["fetchers"]
        else "no fetchers"
    )
    return (
        f"{lists} x {sc['entries']:,} entries ({bits}); {sc['allocations']:,} allocations in "
        f"batches of {sc['allocation_batch']:,}; {sc['revocations']:,} revocations "
        f"({sc['single_share']:.0%} single PUT, batches of {sc['batch_size']:,} as "
        f"{sc['batch_encoding']}) at concurrency {sc['concurrency']}, {pace}; {fetch}; "
        f"window <= {sc['duration']:g} s"
        + (f"; {sc['processes']} load processes" if sc.get("processes", 1) > 1 else "")
    )


def _table(rows: list[list[str]], aligns: list[str]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(aligns))]
    return [
        "  ".join(
            f"{cell:{align}{w}}" for cell, align, w in zip(r, aligns, widths, strict=True)
        ).rstrip()
        for r in rows
    ]


#: Columns of the per-instance table: requests of the operations whose names start so.
_KINDS = ("create", "allocate", "revoke", "fetch", "lag probe")


def _instances_table(per_instance: list[dict[str, Any]]) -> list[str]:
    """Requests (and errors) per instance, in all and per kind of operation: whether the load
    was spread as the round-robin promises, and where the errors came from."""
    rows = [["instance", "requests", "errors", *_KINDS]]
    for entry in per_instance:
        ops = entry["operations"]
        cells = []
        for prefix in _KINDS:
            n = sum(o["requests"] for name, o in ops.items() if name.startswith(prefix))
            cells.append(f"{n:,}")
        label = entry["url"] + (" (--fetch-url)" if entry.get("role") == "fetch-url" else "")
        rows.append([label, f"{entry['requests']:,}", f"{entry['errors']:,}", *cells])
    return _table(rows, ["<"] + [">"] * (len(rows[0]) - 1))


def _server_parts(server: dict[str, Any]) -> str:
    parts = []
    if server.get("rss_bytes_end") is not None:
        parts.append(
            f"RSS {_mb(server['rss_bytes_start'])} MB at start, "
            f"{_mb(server['rss_bytes_peak'] or 0)} MB peak ({server['rss_peak_source']}), "
            f"{_mb(server['rss_bytes_end'])} MB at end"
        )
    if server.get("cpu_seconds") is not None:
        parts.append(f"CPU {server['cpu_seconds']:.1f} s")
    if server.get("writes_per_commit") is not None:
        parts.append(
            f"{server['commits']:,} commits, {server['writes_per_commit']:g} writes per commit"
        )
    if server.get("publish_rounds") is not None:
        parts.append(
            f"{server['publish_rounds']:,} publish rounds taking {server['publish_seconds']:.1f} s"
        )
    return "; ".join(parts) if parts else "no /metrics figures"


def render_table(report: dict[str, Any]) -> str:
    """The summary a person reads: scenario, one row per operation, publish lag, errors, server;
    with several instances, also one row per instance and each instance's server figures."""
    server = report["server"]
    instances = [e for e in report.get("per_instance", []) if e.get("role") == "instance"]
    several = len(instances) > 1
    where = (
        ", ".join(e["url"] for e in instances) + f" ({len(instances)} instances)"
        if several
        else server["url"]
    )
    lines = [
        f"statuslist loadtest: statuslist {server['version']} at {where}"
        + (" (spawned)" if server["spawned"] else ""),
        "scenario: " + _scenario_line(report["scenario"]),
        f"window: {report['window_seconds']:.1f} s; revoked {report['revoked']:,} of "
        f"{report['scenario']['revocations']:,} entries, "
        f"{report['fetched']:,} fetches",
        "",
    ]
    lines += _table(summary_rows(report), [align for _, align in _COLUMNS])
    if several:  # with one URL the table is as it always was
        lines.append("")
        lines += _instances_table(report["per_instance"])
    lag = report["publish_lag"]
    lines.append("")
    if lag["measured"]:
        lines.append(
            # Probed on another instance than the one that acknowledged (not via a CDN).
            (
                "cross-instance publish lag"
                if several and report["scenario"].get("fetch_url") is None
                else "publish lag"
            )
            + f": {lag['measured']} of {lag['requested']} samples "
            f"(SDK poll every {lag['poll_interval_ms']:g} ms): p50 {_ms(lag['p50_ms'])} ms, "
            f"p90 {_ms(lag['p90_ms'])} ms, p99 {_ms(lag['p99_ms'])} ms, "
            f"max {_ms(lag['max_ms'])} ms"
            + (f"; {lag['timed_out']} never seen" if lag["timed_out"] else "")
        )
    else:
        lines.append(
            f"publish lag: not measured ({lag['timed_out']} samples never seen)"
            if lag["timed_out"]
            else "publish lag: not measured (no revocation acknowledged, or --lag-samples 0)"
        )
    failing = []
    for name, op in report["operations"].items():
        for cause, n in op["errors_by_cause"].items():
            example = op["error_examples"].get(cause)
            failing.append(f"  {name}: {cause} x {n:,}" + (f" ({example})" if example else ""))
    lines.append("errors:" + ("\n" + "\n".join(failing) if failing else " none"))
    if several:
        for entry in instances:
            lines.append(f"server {entry['url']}: " + _server_parts(entry["server"]))
    else:
        lines.append("server: " + _server_parts(server))
    processes = report["scenario"].get("processes", 1)
    lines.append(
        f"client: CPU {report['client']['cpu_seconds']:.1f} s "
        + (f"({processes} load processes together)" if processes > 1 else "(this process)")
    )
    return "\n".join(lines)


class Progress:
    """One self-rewriting line on a terminal: time bar, phase, counts, errors, lag samples."""

    def __init__(self, stream: IO[str], width: int = 24) -> None:
        self.stream = stream
        self.width = width
        self.started = time.perf_counter()
        self._last_len = 0

    def __call__(self, run: Runner) -> None:
        sc = run.sc
        now = time.perf_counter()
        if run.window_start:
            elapsed = now - run.window_start
            frac = min(1.0, elapsed / sc.duration)
            if sc.revocations and (sc.fetchers == 0 or sc.fetches is not None):
                work = run.revoked / sc.revocations
                if sc.fetches:
                    work = min(work, run.fetched / sc.fetches)
                frac = max(frac, work)
            clock = f"{elapsed:5.1f}/{sc.duration:g} s"
        else:
            frac, clock = 0.0, f"setup {now - self.started:4.1f} s"
        filled = int(frac * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        errors = sum(o.error_count for o in run.ops.values())
        prober = run.prober
        lag = f"  lag {prober.resolved}/{sc.lag_samples}" if prober and prober.started else ""
        text = (
            f"[{bar}] {clock}  {run.phase}  revoked {run.revoked:,}/{sc.revocations:,}"
            f"  fetches {run.fetched:,}  errors {errors:,}{lag}"
        )
        pad = " " * max(0, self._last_len - len(text))
        self.stream.write("\r" + text + pad)
        self.stream.flush()
        self._last_len = len(text)

    def close(self) -> None:
        if self._last_len:
            self.stream.write("\r" + " " * self._last_len + "\r")
            self.stream.flush()
