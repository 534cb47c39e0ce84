"""Turn a pytest-benchmark JSON file into the markdown table of benchmarks/README.md.

Usage: python -m benchmarks.report BENCH.json
Each row: benchmark, median, min, rounds, ratio to the fastest in its group, compressed size.

python -m benchmarks.report --http BENCH.json renders the HTTP benchmarks (test_http.py) from
what they record: rate, latency percentiles, the count read back, and the CPU each process used.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:,.0f} µs"


def render(path: Path) -> str:
    data = json.loads(path.read_text())
    groups: dict[str, list[dict[str, object]]] = {}
    for b in data["benchmarks"]:
        groups.setdefault(b["group"], []).append(b)
    lines = [
        "| group | benchmark | median | min | rounds | median ÷ fastest | compressed bytes |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for group, rows in groups.items():
        rows.sort(key=lambda r: r["stats"]["median"])  # type: ignore[index]
        fastest = rows[0]["stats"]["median"]  # type: ignore[index]
        for r in rows:
            stats: dict[str, float] = r["stats"]  # type: ignore[assignment]
            size = r["extra_info"].get("compressed_bytes")  # type: ignore[union-attr]
            size_text = f"{size:,}" if isinstance(size, int) else ""
            lines.append(
                f"| {group} | `{r['name']}` | {_ms(stats['median'])} | {_ms(stats['min'])} "
                f"| {int(stats['rounds'])} | {stats['median'] / fastest:,.1f}× | {size_text} |"
            )
    machine = data.get("machine_info", {})
    lines.append("")
    lines.append(
        f"Machine: {machine.get('cpu', {}).get('brand_raw', '?')}, "
        f"{machine.get('cpu', {}).get('count', '?')} cores, "
        f"Python {machine.get('python_version')}; "
        f"run {data.get('datetime', '?')}."
    )
    return "\n".join(lines)


def _checked(info: dict[str, object]) -> str:
    for key, what in (("revoked_read_back", "revoked"), ("allocated_read_back", "allocated")):
        if isinstance(info.get(key), int):
            return f"{info[key]:,} {what}"
    if isinstance(info.get("body_bytes"), int):
        return f"all bodies = the {info['body_bytes']:,}-byte JWT"
    return ""


def _cpu(info: dict[str, object]) -> str:
    cores = info.get("cpu_cores")
    if not isinstance(cores, dict):
        return ""
    text = ", ".join(f"{name} {value:.2f}" for name, value in cores.items())
    per_request = info.get("peer_cpu_us_per_request")
    if isinstance(per_request, int):
        text += f"; {per_request} µs of peer CPU per request"
    return text


def render_http(path: Path) -> str:
    data = json.loads(path.read_text())
    lines = [
        "| benchmark | median | rounds | rate | p50 | p99 | max | read back | CPU (cores) |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for b in data["benchmarks"]:
        info: dict[str, object] = b["extra_info"]
        rate = info.get("per_second")
        rate_text = f"{rate:,} /s" if isinstance(rate, int) else ""
        ratio = info.get("ratio_to_nginx")
        if isinstance(ratio, float):
            rate_text += f" ({ratio:.2f}× nginx)"
        cells = [
            f"{info[k]:,.1f} ms" if isinstance(info.get(k), float) else ""
            for k in ("p50_ms", "p99_ms", "max_ms")
        ]
        lines.append(
            f"| `{b['name']}` | {_ms(b['stats']['median'])} | {int(b['stats']['rounds'])} "
            f"| {rate_text} | {' | '.join(cells)} | {_checked(info)} | {_cpu(info)} |"
        )
    machine = data.get("machine_info", {})
    lines.append("")
    lines.append(
        f"Machine: {machine.get('cpu', {}).get('brand_raw', '?')}, "
        f"{machine.get('cpu', {}).get('count', '?')} cores, "
        f"Python {machine.get('python_version')}; "
        f"run {data.get('datetime', '?')}."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1] == "--http":
        print(render_http(Path(sys.argv[2])))
    else:
        print(render(Path(sys.argv[1])))
