"""Writes statuslist-dashboard.json (Grafana, Prometheus data source) next to this file:
``python3 deploy/grafana/make_dashboard.py``. The JSON is committed; tests/deploy checks that
every metric it queries is one the service exports."""

from __future__ import annotations

import json
from pathlib import Path

DS = {"type": "prometheus", "uid": "${datasource}"}

#: (title, unit, [(expr, legend)], kind)
PANELS: list[tuple[str, str, list[tuple[str, str]], str]] = [
    ("Ready instances", "none", [("sum(statuslist_ready)", "ready")], "stat"),
    ("Publishing instances (must be 1)", "none",
     [("sum(statuslist_publisher_leading)", "leading")], "stat"),
    ("Degraded reasons", "none", [("sum(statuslist_degraded)", "reasons")], "stat"),
    ("Damaged lists", "none", [("sum(statuslist_damaged_lists)", "lists")], "stat"),
    ("Publish lag p50 / p99", "s", [
        ("histogram_quantile(0.5, sum by (le) (rate(statuslist_publish_lag_seconds_bucket[5m])))",
         "p50"),
        ("histogram_quantile(0.99, sum by (le) (rate(statuslist_publish_lag_seconds_bucket[5m])))",
         "p99"),
    ], "timeseries"),
    ("Publish failures", "short",
     [("sum(increase(statuslist_publish_failures_total[5m]))", "failed rounds / 5 min")],
     "timeseries"),
    ("Publishing round duration p99", "s", [
        ("histogram_quantile(0.99, sum by (le, instance) "
         "(rate(statuslist_publish_duration_seconds_bucket[5m])))", "{{instance}}"),
    ], "timeseries"),
    ("Requests by route and status", "reqps", [
        ("sum by (route, status) (rate(statuslist_http_requests_total[1m]))",
         "{{route}} {{status}}"),
    ], "timeseries"),
    ("5xx answers", "reqps", [
        ('sum by (route, status) (rate(statuslist_http_requests_total{status=~"5.."}[1m]))',
         "{{route}} {{status}}"),
    ], "timeseries"),
    ("Latency p99 by route", "s", [
        ("histogram_quantile(0.99, sum by (le, route) "
         "(rate(statuslist_http_request_duration_seconds_bucket[5m])))", "{{route}}"),
    ], "timeseries"),
    ("Entries written by status, allocated", "ops", [
        ("sum by (status) (rate(statuslist_entries_updated_total[1m]))", "status {{status}}"),
        ("sum(rate(statuslist_entries_allocated_total[1m]))", "allocated"),
    ], "timeseries"),
    ("Group commit: writes per commit", "short", [
        ("sum(rate(statuslist_storage_writes[5m])) / sum(rate(statuslist_storage_commits[5m]))",
         "writes / commit"),
    ], "timeseries"),
    ("Write retries (several instances)", "ops",
     [("sum(rate(statuslist_write_retries_total[1m]))", "retries")], "timeseries"),
    ("Memory: RSS against bitmap bytes", "bytes", [
        ("process_resident_memory_bytes", "RSS {{instance}}"),
        ("statuslist_list_bitmap_bytes", "bitmaps {{instance}}"),
    ], "timeseries"),
    ("CPU", "percentunit", [("rate(process_cpu_seconds_total[1m])", "{{instance}}")],
     "timeseries"),
    ("Lists and entries", "short", [
        ("max(statuslist_lists)", "lists"),
        ("max(statuslist_list_entries)", "entries"),
    ], "timeseries"),
]  # fmt: skip


def dashboard() -> dict[str, object]:
    panels = []
    x = y = 0
    for n, (title, unit, targets, kind) in enumerate(PANELS):
        w, h = (6, 4) if kind == "stat" else (12, 8)
        if x + w > 24:
            x, y = 0, y + h
        panels.append(
            {
                "id": n + 1,
                "type": kind,
                "title": title,
                "datasource": DS,
                "gridPos": {"x": x, "y": y, "w": w, "h": h},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [
                    {"refId": chr(65 + i), "datasource": DS, "expr": e, "legendFormat": legend}
                    for i, (e, legend) in enumerate(targets)
                ],
            }
        )
        x += w
    return {
        "title": "statuslist",
        "uid": "statuslist",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "tags": ["statuslist"],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "panels": panels,
    }


if __name__ == "__main__":
    out = Path(__file__).with_name("statuslist-dashboard.json")
    out.write_text(json.dumps(dashboard(), indent=2) + "\n", encoding="utf-8")
    print(out)
