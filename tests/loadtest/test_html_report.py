"""``statuslist loadtest --html`` in a real browser (Debian's chromium, headless): the page
renders (a screenshot with plenty of ink), logs nothing to the console, fetches nothing, and
holds every chart and the summary table. And ``--processes N``: the merged figures are exactly
the sum of the workers' own."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from statuslist.loadtest import Scenario
from statuslist.loadtest.html import CHARTS
from statuslist.loadtest.processes import run_processes
from statuslist.loadtest.stats import Histogram
from tests.support import REPO, ServerProcess


def chromium_binary() -> str:
    """Debian's chromium, installed by ``deploy/ensure-chromium.sh`` when missing (as
    ``make test`` does); the test fails, loudly, when there is none."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        done = subprocess.run(
            ["/bin/sh", str(REPO / "deploy" / "ensure-chromium.sh")],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if done.returncode == 0 and done.stdout.strip():
            found = done.stdout.strip().splitlines()[-1]
    if found is None:
        pytest.fail("chromium is needed: run deploy/ensure-chromium.sh (as root)", pytrace=False)
    return found


def browse(page: Path, tmp: Path, *mode: str) -> tuple[str, str]:
    """One headless chromium run on ``page`` (``--dump-dom`` or ``--screenshot=...``): its
    stdout and its log (console messages appear there as ``CONSOLE`` lines)."""
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    proc = subprocess.run(
        [
            chromium_binary(),
            "--headless",
            "--no-sandbox",  # we run as root
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1100,3000",
            *mode,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, proc.stderr


def console_messages(log: str) -> list[str]:
    return [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def ink(png: Path) -> float:
    """The share of pixels that are not (nearly) white."""
    with Image.open(png) as img:
        gray = img.convert("L")
        hist = gray.histogram()
        total = gray.width * gray.height
    return sum(hist[:245]) / total


def loadtest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "statuslist", "loadtest", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def html_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("html")
    proc = loadtest(
        "--spawn",
        "--entries", "50k",
        "--revocations", "20k",
        "--batch-size", "100",
        "--fetchers", "4",
        "--lag-samples", "20",
        "--duration", "4",
        "--publish-interval", "0.3",
        "--processes", "2",
        "--json", str(out / "r.json"),
        "--html", str(out / "r.html"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / "r.html", json.loads((out / "r.json").read_text())


def test_report_page_renders_in_chromium(
    html_run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    page, report = html_run
    text = page.read_text()
    # Self-contained: nothing it refers to lies outside the page, and no script at all.
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', text)
    assert refs and all(r.startswith("#") for r in refs), [r for r in refs if r[:1] != "#"]
    assert "<script" not in text and "@import" not in text and "url(http" not in text
    dom, log = browse(page, tmp_path, "--dump-dom")
    assert console_messages(log) == []
    for chart_id, _ in CHARTS:
        section = re.search(rf'<figure id="{chart_id}">(.*?)</figure>', dom, re.S)
        assert section is not None, chart_id
        assert "<svg" in section.group(1) and "<path" in section.group(1), chart_id
    assert dom.count("<svg") == len(CHARTS)
    table = re.search(r'<table id="summary">(.*?)</table>', dom, re.S)
    assert table is not None
    for name, op in report["operations"].items():
        assert name in table.group(1) and f"{op['ok']:,}" in table.group(1)
    shot = tmp_path / "shot.png"
    _, log = browse(page, tmp_path, f"--screenshot={shot}")
    assert console_messages(log) == []
    with Image.open(shot) as img:
        assert img.size == (1100, 3000)
    assert ink(shot) > 0.05, ink(shot)  # lines, bars, axes and text: far from blank


def test_the_browser_checks_can_fail(tmp_path: Path) -> None:
    """The same checks on a blank page that logs an error: both are caught."""
    page = tmp_path / "bad.html"
    page.write_text('<html><body><script>console.error("broken chart")</script></body></html>')
    shot = tmp_path / "bad.png"
    _, log = browse(page, tmp_path, f"--screenshot={shot}")
    assert any("broken chart" in m for m in console_messages(log))
    assert ink(shot) < 0.001


def test_report_timeline_covers_the_run(html_run: tuple[Path, dict[str, Any]]) -> None:
    _, report = html_run
    tl = report["timeline"]
    assert tl["slot_seconds"] == 1.0
    assert report["scenario"]["processes"] == 2
    for name, op in report["operations"].items():
        if name == "create list":  # setup, before the window
            assert name not in tl["operations"]
            continue
        points = tl["operations"][name]
        assert sum(p["ok"] for p in points) == op["ok"], name
        assert sum(p["errors"] for p in points) == op["errors"], name
    assert (
        sum(p["entries"] for p in tl["operations"]["revoke (batch)"])
        + sum(p["entries"] for p in tl["operations"].get("revoke (single)", []))
        == report["revoked"]
    )
    (server,) = tl["server"].values()  # sampled once (by the first process), every second
    assert len(server) >= 3 and all(p["rss_bytes"] > 10 << 20 for p in server)
    assert any(p["cpu_percent"] for p in server)
    assert len(report["publish_lag"]["samples"]) == report["publish_lag"]["measured"] == 20


def test_html_without_matplotlib_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "block" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("matplotlib is not installed")\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker.parent), *sys.path])}
    proc = subprocess.run(
        [sys.executable, "-m", "statuslist", "loadtest", "--spawn", "--html", "r.html"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert "statuslist[report]" in proc.stderr and "matplotlib" in proc.stderr, proc.stderr
    assert not (tmp_path / "r.html").exists()


def _quantile_from_buckets(buckets: dict[int, int], q: float) -> int:
    """The bucket holding the nearest-rank ``q``-quantile, computed here from raw counts."""
    count = sum(buckets.values())
    rank = max(1, math.ceil(q * count))
    seen = 0
    for bucket in sorted(buckets):
        seen += buckets[bucket]
        if seen >= rank:
            return bucket
    raise AssertionError("ranks do not add up")


def test_processes_merge_exactly(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data", args=("--publish-interval", "0.3")).start()
    try:
        sc = Scenario(
            url=srv.url,
            api_key=srv.api_key,
            lists=2,
            entries=20_000,
            revocations=6_001,
            batch_size=200,
            single_share=0.1,
            fetchers=5,
            fetches=901,
            lag_samples=7,
            duration=60,
            processes=3,
        )
        parts: list[dict[str, Any]] = []
        report = run_processes(sc, [srv.url], srv.api_key, parts_out=parts)
    finally:
        assert srv.stop() == 0, srv.log()
    assert len(parts) == 3
    assert report["errors"] == 0
    assert report["revoked"] == sum(p["revoked"] for p in parts) == 6_001
    assert report["fetched"] == sum(p["fetched"] for p in parts) == 901
    assert report["publish_lag"]["measured"] == 7
    assert sum(lst["allocated"] for lst in report["lists"]) == 6_001
    ops = report["operations"]
    assert ops["create list"]["ok"] == 2  # by the parent, once
    for name, op in ops.items():
        mine = [p["ops"][name] for p in parts if name in p["ops"]]
        if name == "create list":
            assert mine == []
            continue
        if name.startswith("lag probe"):
            mine = [p["prober"]["op"] for p in parts if p["prober"] is not None]
        assert len(mine) >= 1, name
        assert op["ok"] == sum(m.ok for m in mine), name
        assert op["entries"] == sum(m.entries for m in mine), name
        assert op["bytes_in"] == sum(m.bytes_in for m in mine), name
        assert op["not_modified"] == sum(m.not_modified for m in mine), name
        # The merged histogram is the bucket-wise sum, and its percentiles are those of it.
        summed: dict[int, int] = {}
        for m in mine:
            for b, n in m.latency.buckets().items():
                summed[b] = summed.get(b, 0) + n
        whole = Histogram()
        for m in mine:
            whole.merge(m.latency)
        assert whole.buckets() == summed and whole.count == op["ok"]
        for q, key in ((0.5, "p50"), (0.99, "p99")):
            assert whole._bucket(op["latency_ms"][key] / 1e3) in {
                _quantile_from_buckets(summed, q),
                _quantile_from_buckets(summed, q) - 1,  # rounding to µs at a bucket's edge
            }, (name, key)
        assert op["latency_ms"]["max"] == round(max(m.latency.max for m in mine) * 1e3, 3)
    # Every worker took part, and the per-second samples add up by second.
    assert all(p["ops"]["revoke (batch)"].ok > 0 for p in parts)
    tl = report["timeline"]
    for name, points in tl["operations"].items():
        if name.startswith("lag probe"):
            continue
        by_slot: dict[float, int] = {}
        for p in parts:
            for k, slot in p["timeline"].ops.get(name, {}).items():
                t = k * p["timeline"].width
                by_slot[t] = by_slot.get(t, 0) + slot.ok
        assert {pt["t"]: pt["ok"] for pt in points if pt["ok"]} == {
            t: n for t, n in by_slot.items() if n
        }, name
