"""``--html``: the report as one self-contained page (charts as inline SVG drawn by matplotlib,
inline CSS, no script and nothing fetched when it is opened).

matplotlib is an optional extra (``pip install 'statuslist[report]'``); :func:`require` says so
clearly before a run starts rather than after it.
"""

from __future__ import annotations

import html
import io
import math
import re
import time
from typing import TYPE_CHECKING, Any

from statuslist.exceptions import LoadtestError
from statuslist.loadtest.report import render_table, summary_rows

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["CHARTS", "render_html", "require"]

#: Every chart of the page: (element id, title). Tests check each is in the rendered DOM.
CHARTS = (
    ("chart-throughput", "Throughput per operation (successful requests/s)"),
    ("chart-latency", "Latency per operation: p50 (solid) and p99 (dashed)"),
    ("chart-lag", "Publish lag: acknowledged revocation to a served token showing it"),
    ("chart-errors", "Errors per operation (per second)"),
    ("chart-rss", "Server resident memory (RSS)"),
    ("chart-cpu", "Server CPU"),
)

_INSTALL = "pip install 'statuslist[report]'"
#: A slot cut shorter than this share of its width by the end of the window gives no rate (its
#: requests are in the totals and the table all the same).
_SHORT = 0.2


def require() -> None:
    """Raises :class:`LoadtestError` unless matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError as exc:
        raise LoadtestError(
            f"--html needs matplotlib, an optional extra of statuslist ({exc}); "
            f"install it with: {_INSTALL}"
        ) from None


def _figure(height: float = 3.2) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, height), layout="constrained")
    return fig


def _svg(fig: Figure, chart_id: str) -> str:
    """The figure as an inline ``<svg>`` (text drawn as paths: no font is fetched); its ids are
    salted with the chart's, so the page's SVGs never share one."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": chart_id}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    start = text.index("<svg")
    svg = text[start:]
    return svg.replace("<svg ", f'<svg role="img" aria-label="{html.escape(chart_id)}" ', 1)


def _seconds_axis(ax: Axes, slot: float) -> None:
    ax.set_xlabel(f"seconds since the window started (slots of {slot:g} s)")
    ax.grid(True, alpha=0.3)
    ax.set_xlim(left=0)


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#555")


def _ops_chart(
    report: dict[str, Any], chart_id: str, value: str, ylabel: str, *, log: bool = False
) -> str:
    tl = report["timeline"]
    slot = tl["slot_seconds"]
    fig = _figure()
    ax = fig.add_subplot()
    drawn = False
    for i, (name, points) in enumerate(tl["operations"].items()):
        color = f"C{i % 10}"
        if value == "latency":
            pts = [p for p in points if p["ok"]]
            if not pts:
                continue
            xs = [p["t"] + slot / 2 for p in pts]
            ax.plot(xs, [p["p50_ms"] for p in pts], color=color, label=f"{name} p50")
            ax.plot(xs, [p["p99_ms"] for p in pts], color=color, linestyle="--", alpha=0.8)
            drawn = True
        elif value == "errors":
            pts = [p for p in points if p["errors"] and p["seconds"] >= _SHORT * slot]
            if not pts:
                continue
            xs = [p["t"] + p["seconds"] / 2 for p in pts]
            ax.plot(xs, [p["errors"] / p["seconds"] for p in pts], "o-", color=color, label=name)
            drawn = True
        else:
            pts = [p for p in points if p["ok"] and p["seconds"] >= _SHORT * slot]
            if not pts:
                continue
            xs = [p["t"] + p["seconds"] / 2 for p in pts]
            ax.plot(xs, [p["requests_per_s"] for p in pts], color=color, label=name)
            drawn = True
    if drawn:
        if log:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    else:
        _empty(ax, "no errors" if value == "errors" else "no successful requests")
        ax.set_xlim(0, max(report["window_seconds"], 1.0))
    ax.set_ylabel(ylabel)
    _seconds_axis(ax, slot)
    return _svg(fig, chart_id)


def _lag_chart(report: dict[str, Any]) -> str:
    lag = report["publish_lag"]
    values = [s["lag_ms"] for s in lag["samples"]]
    fig = _figure()
    ax = fig.add_subplot()
    if values:
        bins = min(40, max(5, int(math.sqrt(len(values))) * 2))
        ax.hist(values, bins=bins, color="C0", edgecolor="white")
        for key, style in (("p50_ms", "-"), ("p99_ms", "--")):
            ax.axvline(lag[key], color="C3", linestyle=style, label=f"{key[:3]} {lag[key]:g} ms")
        ax.legend(fontsize=8)
    else:
        _empty(ax, "publish lag not measured")
    ax.set_xlabel(
        f"lag in ms ({len(values)} samples; SDK poll every {lag['poll_interval_ms']:g} ms)"
    )
    ax.set_ylabel("samples")
    ax.grid(True, alpha=0.3)
    return _svg(fig, "chart-lag")


def _server_chart(report: dict[str, Any], chart_id: str) -> str:
    tl = report["timeline"]
    slot = tl["slot_seconds"]
    fig = _figure(2.8)
    ax = fig.add_subplot()
    drawn = False
    for i, (url, points) in enumerate(tl["server"].items()):
        if chart_id == "chart-rss":
            pts = [(p["t"], p["rss_bytes"] / 1e6) for p in points if p["rss_bytes"]]
        else:
            pts = [(p["t"], p["cpu_percent"]) for p in points if p["cpu_percent"] is not None]
        if pts:
            ax.plot([t for t, _ in pts], [v for _, v in pts], color=f"C{i % 10}", label=url)
            drawn = True
    if drawn:
        ax.set_ylim(bottom=0)
        if len(tl["server"]) > 1:
            ax.legend(fontsize=7)
    else:
        _empty(ax, "the server's /metrics gave no process figures")
        ax.set_xlim(0, max(report["window_seconds"], 1.0))
    ax.set_ylabel("MB" if chart_id == "chart-rss" else "% of one core")
    _seconds_axis(ax, slot)
    return _svg(fig, chart_id)


_CSS = """
body { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; margin: 1.5em auto;
       max-width: 1000px; color: #222; background: #fff; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
h2 { font-size: 1.05em; margin: 1.2em 0 0.3em; }
p.meta { color: #555; margin-top: 0; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #ddd; }
th { background: #f3f3f3; text-align: right; }
td { text-align: right; font-variant-numeric: tabular-nums; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 0.5em 0 1em; }
figure svg { width: 100%; height: auto; }
pre { background: #f7f7f7; padding: 0.8em; font-size: 0.75em; overflow-x: auto; }
"""


def _table_html(report: dict[str, Any]) -> str:
    rows = summary_rows(report)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows[1:]
    )
    return f'<table id="summary"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def render_html(report: dict[str, Any]) -> str:
    """The page for ``report`` (what ``--json`` writes): summary table, then every chart of
    :data:`CHARTS`, then the text summary."""
    require()
    charts = {
        "chart-throughput": _ops_chart(report, "chart-throughput", "throughput", "requests/s"),
        "chart-latency": _ops_chart(report, "chart-latency", "latency", "ms", log=True),
        "chart-lag": _lag_chart(report),
        "chart-errors": _ops_chart(report, "chart-errors", "errors", "errors/s"),
        "chart-rss": _server_chart(report, "chart-rss"),
        "chart-cpu": _server_chart(report, "chart-cpu"),
    }
    server = report["server"]
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(report["started_at"]))
    meta = (
        f"{html.escape(report['tool'])} against statuslist {html.escape(str(server['version']))}"
        f" at {html.escape(server['url'])}{' (spawned)' if server['spawned'] else ''}; "
        f"started {started}; window {report['window_seconds']:.1f} s; "
        f"{report['scenario'].get('processes', 1)} load process(es); "
        f"revoked {report['revoked']:,}, fetched {report['fetched']:,}, "
        f"errors {report['errors']:,}"
    )
    sections = "".join(
        f'<h2>{html.escape(title)}</h2><figure id="{cid}">{charts[cid]}</figure>'
        for cid, title in CHARTS
    )
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>statuslist load test report</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>statuslist load test</h1>"
        f'<p class="meta">{meta}</p>'
        f"<h2>Summary</h2>{_table_html(report)}"
        f"{sections}"
        f"<h2>Text summary</h2><pre>{html.escape(render_table(report))}</pre>"
        "</body></html>\n"
    )
    # Self-contained: no attribute may point anywhere but into the page itself.
    for ref in re.findall(r'(?:src|href)="([^"]*)"', page):
        if not ref.startswith(("#", "data:")):  # pragma: no cover - a bug, not input
            raise AssertionError(f"the report page would fetch {ref!r}")
    return page
