"""``statuslist loadtest`` through its real interface (the CLI), against real servers: a spawned
one, one started here (so what the tool says it did can be checked on the server), one refusing
batches, and a stub that answers every load request with 503."""

from __future__ import annotations

import asyncio
import json
import math
import os
import pty
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from statuslist import __version__
from statuslist.loadtest import Scenario
from statuslist.loadtest.report import render_table
from statuslist.loadtest.runner import Runner
from tests.support import ServerProcess, free_port


def loadtest(*args: str, stderr: int = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process, with no stdin (as in CI)."""
    return subprocess.run(
        [sys.executable, "-m", "statuslist", "loadtest", *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=300,
        check=False,
    )


def _sane_latency(op: dict[str, Any]) -> None:
    lat = op["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"], lat
    assert op["seconds"] > 0 and op["requests_per_s"] > 0


@pytest.fixture(scope="module")
def spawned_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, str]:
    out = tmp_path_factory.mktemp("lt") / "report.json"
    proc = loadtest(
        "--spawn",
        "--entries", "50k",
        "--revocations", "3000",
        "--batch-size", "100",
        "--single-share", "0.1",
        "--fetchers", "4",
        "--fetches", "800",
        "--lag-samples", "8",
        "--duration", "120",
        "--publish-interval", "0.5",
        "--json", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text()), proc.stdout, proc.stderr


def test_spawned_run_reports_sane_figures(spawned_run: tuple[dict[str, Any], str, str]) -> None:
    report, stdout, stderr = spawned_run
    assert report["server"]["version"] == __version__
    assert report["server"]["spawned"] is True
    assert report["server"]["rss_bytes_peak"] > 10 << 20
    assert report["server"]["rss_peak_source"] == "VmHWM"
    assert report["server"]["cpu_seconds"] > 0
    assert report["server"]["writes_per_commit"] >= 1
    assert report["server"]["publish_rounds"] >= 1 and report["server"]["publish_seconds"] > 0
    assert report["scenario"]["entries"] == 50_000 and "api_key" not in report["scenario"]
    assert report["errors"] == 0 and report["revoked"] == 3000 and report["fetched"] == 800
    ops = report["operations"]
    assert ops["create list"]["ok"] == 1
    assert ops["allocate"]["entries"] == 3000
    single, batch = ops["revoke (single)"], ops["revoke (batch)"]
    assert single["entries"] + batch["entries"] == 3000
    assert 280 <= single["entries"] <= 320, "single PUTs carry --single-share of the entries"
    assert batch["ok"] == batch["entries"] // 100 + (batch["entries"] % 100 > 0)
    for name in ("allocate", "revoke (single)", "revoke (batch)"):
        _sane_latency(ops[name])
        assert ops[name]["entries_per_s"] > 0 and ops[name]["bytes_out"] > 0
    fetch_ops = {k: v for k, v in ops.items() if k.startswith("fetch ")}
    assert set(fetch_ops) == {
        "fetch jwt",
        "fetch cwt",
        "fetch jwt If-None-Match",
        "fetch cwt If-None-Match",
    }
    assert sum(op["ok"] for op in fetch_ops.values()) == 800
    for name, op in fetch_ops.items():
        _sane_latency(op)
        assert op["errors"] == 0
        if "If-None-Match" in name:
            assert op["not_modified"] > 0, "conditional fetches of an unchanged token are 304s"
        else:
            assert op["not_modified"] == 0 and op["bytes_in"] > 100 * op["ok"]
    assert "operation" in stdout and "revoke (batch)" in stdout and "errors: none" in stdout
    assert "\r" not in stderr, "no progress line when stderr is not a terminal"


def test_publish_lag_is_measured_from_served_tokens(
    spawned_run: tuple[dict[str, Any], str, str],
) -> None:
    report, stdout, _ = spawned_run
    lag = report["publish_lag"]
    assert lag["measured"] == lag["requested"] == 8 and lag["timed_out"] == 0
    assert "publish lag: 8 of 8 samples" in stdout
    ids = {lst["id"] for lst in report["lists"]}
    for s in lag["samples"]:
        assert s["list"] in ids
        # The token that showed the revocation was signed after the revocation was acknowledged
        # (iat has whole seconds), and within the 0.5 s publish interval plus polling.
        assert s["token_iat"] >= math.floor(s["acked_at"]) - 1
        assert 0 < s["lag_ms"] < 5_000
    assert 0 < lag["p50_ms"] <= lag["p90_ms"] <= lag["p99_ms"] <= lag["max_ms"]
    assert report["operations"]["lag probe (SDK)"]["ok"] > 0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("lt-server") / "data"
    srv = ServerProcess(data, args=("--publish-interval", "0.3")).start()
    yield srv
    assert srv.stop() == 0, srv.log()


def test_what_it_reports_is_what_the_server_holds(server: ServerProcess, tmp_path: Path) -> None:
    bystander = server.api("POST", "/v1/lists", {"bits": 1, "size": 1000})
    server.api("PUT", f"/v1/lists/{bystander['id']}/entries/5", {"status": "INVALID"})
    out = tmp_path / "r.json"
    proc = loadtest(
        "--url", server.url,
        "--api-key", server.api_key,
        "--lists", "2",
        "--entries", "20000",
        "--revocations", "2001",
        "--allocations", "2500",
        "--allocation-batch", "300",
        "--batch-encoding", "binary",
        "--batch-size", "250",
        "--fetchers", "0",
        "--lag-samples", "3",
        "--json", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["server"]["spawned"] is False
    assert report["server"]["rss_peak_source"] == "sampled /metrics, 1 s"
    assert report["revoked"] == 2001 and report["publish_lag"]["measured"] == 3
    assert report["operations"]["allocate"]["ok"] == 10  # 2 lists x 1250 in batches of 300
    revoked = 0
    for lst in report["lists"]:
        shown = server.api("GET", f"/v1/lists/{lst['id']}")
        assert shown["allocated"] == lst["allocated"] == 1250
        revoked += shown["counts"].get("INVALID", 0)
    assert revoked == 2001
    after = server.api("GET", f"/v1/lists/{bystander['id']}")
    assert after["counts"] == {"VALID": 999, "INVALID": 1}, "other lists are never touched"


def test_rate_paces_revocations(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = loadtest(
        "--url", server.url, "--api-key", server.api_key, "--entries", "10000",
        "--revocations", "600", "--single-share", "1", "--rate", "400", "--fetchers", "0",
        "--lag-samples", "0", "--json", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    single = json.loads(out.read_text())["operations"]["revoke (single)"]
    assert single["ok"] == 600
    assert single["seconds"] >= 599 / 400 * 0.95, "600 entries at 400/s take about 1.5 s"
    assert "publish lag: not measured" in proc.stdout


def test_wrong_api_key_is_a_clear_error(server: ServerProcess) -> None:
    proc = loadtest("--url", server.url, "--api-key", "nope", "--revocations", "10")
    assert proc.returncode == 2
    assert "HTTP 401" in proc.stderr and "Traceback" not in proc.stderr


def test_refused_batches_are_errors_not_throughput(tmp_path: Path) -> None:
    config = tmp_path / "limits.toml"
    config.write_text("[limits]\nmax_batch = 50\n")
    out = tmp_path / "r.json"
    proc = loadtest(
        "--spawn", "--server-config", str(config), "--entries", "10000",
        "--revocations", "1000", "--batch-size", "100", "--single-share", "0.1",
        "--fetchers", "0", "--lag-samples", "4", "--lag-timeout", "3", "--json", str(out),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    batch, single = report["operations"]["revoke (batch)"], report["operations"]["revoke (single)"]
    assert batch["ok"] == 0 and batch["entries"] == 0
    assert batch["requests_per_s"] == 0 and batch["entries_per_s"] == 0
    assert batch["errors_by_cause"] == {"HTTP 413": batch["errors"]} and batch["errors"] >= 8
    assert "the limit is 50" in batch["error_examples"]["HTTP 413"]
    assert 90 <= single["ok"] <= 110 and single["errors"] == 0
    assert report["revoked"] == single["ok"]
    assert f"HTTP 413 x {batch['errors']}" in proc.stdout


def test_a_server_answering_503_is_reported_as_errors() -> None:
    """A stub that sets up fine, then answers every revocation and fetch with 503."""

    async def main() -> dict[str, Any]:
        async def handler(request: web.Request) -> web.Response:
            base = f"http://{request.host}"
            if request.path == "/healthz":
                return web.json_response({"status": "ok", "version": "stub"})
            if request.path == "/v1/lists":
                return web.json_response({"id": "L", "uri": f"{base}/statuslists/L"}, status=201)
            if request.path == "/v1/allocations":
                n = (await request.json())["count"]
                return web.json_response(
                    [{"status_list": {"idx": i}} for i in range(n)], status=201
                )
            if request.path == "/.well-known/jwks.json":
                return web.json_response({"keys": []})
            return web.json_response({"detail": "overloaded"}, status=503)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        async with TestServer(app, host="127.0.0.1") as stub:
            base = str(stub.make_url("")).rstrip("/")
            sc = Scenario(
                url=base,
                api_key="k",
                entries=1000,
                revocations=200,
                batch_size=50,
                single_share=0.25,
                fetchers=2,
                fetches=40,
                lag_samples=2,
                lag_timeout=1,
                duration=30,
            )
            return await Runner(sc, base, "k").run()

    report = asyncio.run(main())
    ops = report["operations"]
    assert report["revoked"] == 0 and report["errors"] > 0
    for name, op in ops.items():
        if name.startswith(("revoke", "fetch")):
            assert op["ok"] == 0 and op["requests_per_s"] == 0, name
            assert op["errors"] > 0 and set(op["errors_by_cause"]) == {"HTTP 503"}, name
    assert sum(ops[n]["errors"] for n in ops if n.startswith("fetch")) == 40
    assert report["publish_lag"]["measured"] == 0
    table = render_table(report)
    assert "HTTP 503 x" in table and "(overloaded)" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give --url"),
        (("--spawn", "--url", "http://127.0.0.1:1"), "do not also give --url"),
        (("--url", "ftp://example.com", "--api-key", "k"), "--url must be an http"),
        (("--url", "http://127.0.0.1:1"), "--api-key is required"),
        (("--spawn", "--entries", "0"), "--entries must be in"),
        (("--spawn", "--entries", "ten"), "expected a whole number"),
        (("--spawn", "--bits", "3"), "--bits must be 1, 2, 4 or 8"),
        (("--spawn", "--single-share", "1.5"), "--single-share must be a fraction"),
        (("--spawn", "--revocations", "10", "--allocations", "5"), "needs as many allocated"),
        (("--spawn", "--entries", "100", "--revocations", "200"), "the lists hold 100"),
        (("--spawn", "--formats", "xml"), "--formats must be"),
        (("--spawn", "--duration", "0"), "--duration must be"),
        (("--spawn", "--rate", "-5"), "--rate must be"),
        (("--spawn", "--concurrency", "0"), "--concurrency must be"),
        (("--spawn", "--json", "/nonexistent-dir/r.json"), "does not exist"),
        (
            ("--url", "http://127.0.0.1:1", "--api-key", "k", "--publish-interval", "1"),
            "only apply to --spawn",
        ),
    ],
)
def test_invalid_options_are_clear_errors(args: tuple[str, ...], message: str) -> None:
    proc = loadtest(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_unreachable_server_is_a_clear_error() -> None:
    proc = loadtest("--url", f"http://127.0.0.1:{free_port()}", "--api-key", "k")
    assert proc.returncode == 2
    assert "cannot reach" in proc.stderr and "Traceback" not in proc.stderr


def test_progress_line_on_a_terminal(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    seen = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO once the child closed the terminal
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = loadtest(
            "--spawn", "--entries", "10000", "--revocations", "3000", "--single-share", "1",
            "--rate", "1500", "--fetchers", "1", "--fetches", "100", "--lag-samples", "2",
            stderr=slave,
        )  # fmt: skip
    finally:
        os.close(slave)
    reader.join(10)
    os.close(master)
    text = seen.decode("utf-8", "replace")
    assert proc.returncode == 0, text
    assert "\r[" in text and "revoked" in text and "fetches" in text
    assert "operation" in proc.stdout, "the table goes to stdout, not the terminal line"


def test_only_the_given_url_is_contacted(tmp_path: Path) -> None:
    """A server that publishes its lists under another base (a CDN) is refused, not followed."""
    srv = ServerProcess(tmp_path / "data", public_url="http://cdn.invalid").start()
    try:
        proc = loadtest("--url", srv.url, "--api-key", srv.api_key, "--revocations", "10")
    finally:
        assert srv.stop() == 0, srv.log()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "outside" in proc.stderr and "--fetch-url" in proc.stderr


def test_a_100m_entry_list(tmp_path: Path) -> None:
    """The scale the tool is documented for: 100M entries at 1 bit, a few revocations."""
    out = tmp_path / "r.json"
    proc = loadtest(
        "--spawn", "--entries", "100M", "--revocations", "2000", "--fetchers", "2",
        "--fetches", "40", "--lag-samples", "3", "--json", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["lists"][0]["allocated"] == 2000 and report["revoked"] == 2000
    assert report["publish_lag"]["measured"] == 3
    peak = report["server"]["rss_bytes_peak"]
    assert 12_500_000 < peak < 400 << 20, f"a 100M-entry 1-bit list is 12.5 MB; RSS {peak}"


def test_duration_bounds_the_run(server: ServerProcess, tmp_path: Path) -> None:
    """More work than fits in the window: the run stops at --duration, reports what was done."""
    out = tmp_path / "r.json"
    proc = loadtest(
        "--url", server.url, "--api-key", server.api_key, "--entries", "1M",
        "--revocations", "1M", "--allocation-batch", "5000", "--single-share", "1",
        "--fetchers", "0", "--lag-samples", "0", "--duration", "2", "--json", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert 1.9 <= report["window_seconds"] < 2 + 60, "ends at the deadline (+ in-flight requests)"
    assert report["revoked"] < 1_000_000
    assert f"revoked {report['revoked']:,} of 1,000,000 entries" in proc.stdout
