"""Turn a pytest-benchmark JSON file into the markdown table of benchmarks/README.md.

Usage: python -m benchmarks.report BENCH.json
Each row: benchmark, median, min, rounds, ratio to the fastest in its group, compressed size.
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


if __name__ == "__main__":
    print(render(Path(sys.argv[1])))
