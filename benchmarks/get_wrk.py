"""Cached token GETs with ``wrk`` (issue #13 parts 1 and 4), every peer in the same run.

Peers, each serving the same bytes (checked by hash before any load):

- ``nginx``: nginx, one worker, serving the token from a file (the machine's limit);
- ``nginx-fdcache``: the same, with ``open_file_cache`` (as the offload config has for its
  immutable token files), so that the offload is also held against nginx at its best;
- ``offload``: nginx with ``deploy/nginx/offload.conf.template`` as shipped: its native module
  (``deploy/nginx/module``) answers the common requests from the files the service writes to its
  ``offload_dir``, with sendfile;
- ``offload-njs``: the same template without its ``statuslist_offload`` line: njs decides every
  request, the static module sends the files;
- ``aiohttp-nothing``: a do-nothing aiohttp handler (uvloop) returning the bytes with fixed
  headers: the framework's ceiling;
- ``statuslist``: the service's own token GET.

For two tokens: a small list (8,192 one-bit entries, a ~0.5 KB JWT) and a 10M-entry list with 1%
revoked (~240 KB JWT). Each round runs ``wrk -t1 -c50 -d{seconds}s`` against each peer in turn
(one core for wrk, one for the peer); the figure is the median over rounds, and ratios are to
nginx of the same rounds.

    python3 -m benchmarks.get_wrk --rounds 3 --seconds 5 [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support import NginxProcess, ServerProcess, free_port, offload_site

JWT = "application/statuslist+jwt"
HEADERS = {"Accept": JWT}
PEERS = ("nginx", "nginx-fdcache", "offload", "offload-njs", "aiohttp-nothing", "statuslist")

DO_NOTHING = textwrap.dedent(
    """
    import sys
    import uvloop
    from aiohttp import web

    body = open(sys.argv[2], "rb").read()
    headers = {"Content-Type": "application/statuslist+jwt", "ETag": '"x"',
               "Cache-Control": "public, max-age=300", "Vary": "Accept, Accept-Encoding"}

    async def token(request):
        return web.Response(body=body, headers=headers)

    async def ok(request):
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/statuslists/{list_id}", token)
    app.router.add_get("/healthz", ok)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None,
                loop=uvloop.new_event_loop())
    """
)


def fetch(url: str) -> bytes:
    req = urllib.request.Request(url, headers=HEADERS)  # noqa: S310 - loopback
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
        body: bytes = resp.read()
        return body


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of ``pid`` and its children (nginx's workers)."""
    pids = [pid]
    kids = Path(f"/proc/{pid}/task/{pid}/children")
    if kids.exists():
        pids += [int(k) for k in kids.read_text().split()]
    total = 0.0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def wrk(url: str, seconds: int, connections: int = 50) -> tuple[float, int]:
    """Requests per second and requests done of one ``wrk -t1`` run (fails on any socket error
    or non-2xx)."""
    binary = shutil.which("wrk")
    if binary is None:
        sys.exit("wrk is needed: make wrk (deploy/ensure-wrk.sh) installs it")
    out = subprocess.run(  # noqa: S603 - wrk from PATH, our own arguments
        [binary, "-t1", f"-c{connections}", f"-d{seconds}s", "-H", f"Accept: {JWT}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad or "Socket errors" in out:
        sys.exit(f"wrk saw errors against {url}:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    done = re.search(r"(\d+) requests in", out)
    if rate is None or done is None:
        sys.exit(f"cannot read wrk's output:\n{out}")
    return float(rate.group(1)), int(done.group(1))


def make_lists(server: ServerProcess) -> dict[str, str]:
    """The small list and the 10M-entry one (1% revoked), published; name -> path."""
    small = server.api("POST", "/v1/lists", {"bits": 1, "size": 8192})["id"]
    server.api("PUT", f"/v1/lists/{small}/entries/5", {"status": "INVALID"})
    server.api("POST", f"/v1/lists/{small}/publish")
    big = server.api("POST", "/v1/lists", {"bits": 1, "size": 10_000_000})["id"]
    server.revoke(big, random.Random(4).sample(range(10_000_000), 100_000))
    server.api("POST", f"/v1/lists/{big}/publish")
    return {"small": f"/statuslists/{small}", "10M": f"/statuslists/{big}"}


def nginx_pid(proc: NginxProcess) -> int:
    assert proc.proc is not None
    return proc.proc.pid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="get-wrk-"))
    procs: list[Any] = []
    try:
        offload_dir = tmp / "offload"
        server = ServerProcess(tmp / "data", args=("--offload-dir", str(offload_dir))).start()
        procs.append(server)
        paths = make_lists(server)
        tokens = {name: fetch(server.url + path) for name, path in paths.items()}

        www = tmp / "www"
        for name, path in paths.items():
            (www / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            (www / path.lstrip("/")).write_bytes(tokens[name])
        port = free_port()
        static = (
            f"server {{ listen 127.0.0.1:{port}; root {www};"
            f" location / {{ default_type {JWT}; }} }}"
        )
        (tmp / "static").mkdir()
        nginx = NginxProcess(tmp / "static", static, url=f"http://127.0.0.1:{port}")
        procs.append(nginx.start(nginx.url + paths["small"]))
        port = free_port()
        cached = (
            f"server {{ listen 127.0.0.1:{port}; root {www};"
            " open_file_cache max=10000 inactive=60s; open_file_cache_valid 3600s;"
            f" location / {{ default_type {JWT}; }} }}"
        )
        (tmp / "static-fdcache").mkdir()
        fdcache = NginxProcess(tmp / "static-fdcache", cached, url=f"http://127.0.0.1:{port}")
        procs.append(fdcache.start(fdcache.url + paths["small"]))

        offloads = {}
        for peer, native in (("offload", True), ("offload-njs", False)):
            port = free_port()
            site = offload_site(
                f"127.0.0.1:{server.port}", f"127.0.0.1:{port}", offload_dir, native=native
            )
            (tmp / f"{peer}-nginx").mkdir()
            offloads[peer] = NginxProcess(
                tmp / f"{peer}-nginx", site, url=f"http://127.0.0.1:{port}", njs=True, native=native
            )
            procs.append(offloads[peer].start(offloads[peer].url + "/healthz"))

        urls: dict[str, dict[str, str]] = {
            "nginx": {n: nginx.url + p for n, p in paths.items()},
            "nginx-fdcache": {n: fdcache.url + p for n, p in paths.items()},
            **{
                peer: {n: proc.url + p for n, p in paths.items()} for peer, proc in offloads.items()
            },
            "statuslist": {n: server.url + p for n, p in paths.items()},
        }
        assert server.proc is not None
        assert nginx.proc is not None
        pids: dict[str, dict[str, int]] = {
            "nginx": dict.fromkeys(paths, nginx.proc.pid),
            "nginx-fdcache": dict.fromkeys(paths, nginx_pid(fdcache)),
            **{peer: dict.fromkeys(paths, nginx_pid(proc)) for peer, proc in offloads.items()},
            "statuslist": dict.fromkeys(paths, server.proc.pid),
            "aiohttp-nothing": {},
        }
        nothing_urls = {}
        for name, body in tokens.items():
            (tmp / f"{name}.jwt").write_bytes(body)
            (tmp / "nothing.py").write_text(DO_NOTHING)
            port = free_port()
            proc = subprocess.Popen(  # noqa: S603
                [sys.executable, str(tmp / "nothing.py"), str(port), str(tmp / f"{name}.jwt")]
            )
            procs.append(proc)
            pids["aiohttp-nothing"][name] = proc.pid
            nothing_urls[name] = f"http://127.0.0.1:{port}/statuslists/x"
            deadline = time.monotonic() + 20
            while True:
                try:
                    fetch(f"http://127.0.0.1:{port}/healthz")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        sys.exit("the do-nothing server did not start")
                    time.sleep(0.1)
        urls["aiohttp-nothing"] = nothing_urls

        for peer in PEERS:  # the same bytes everywhere
            for name, url in urls[peer].items():
                got = fetch(url)
                assert got == tokens[name], f"{peer} serves other bytes for {name}"
        rates: dict[str, dict[str, list[float]]] = {n: {p: [] for p in PEERS} for n in paths}
        cpu: dict[str, dict[str, list[float]]] = {n: {p: [] for p in PEERS} for n in paths}
        for r in range(args.rounds):
            for name in paths:
                for peer in PEERS:
                    wrk(urls[peer][name], 1, 50)  # warm up the connections
                    before = cpu_seconds(pids[peer][name])
                    rate, done = wrk(urls[peer][name], args.seconds)
                    us = (cpu_seconds(pids[peer][name]) - before) / done * 1e6
                    rates[name][peer].append(rate)
                    cpu[name][peer].append(us)
                    print(
                        f"round {r + 1} {name:5} {peer:16} {rate:10.0f} req/s {us:7.1f} µs CPU/req",
                        flush=True,
                    )
        report: dict[str, Any] = {"rounds": args.rounds, "seconds": args.seconds, "tokens": {}}
        print()
        print(
            "| token | peer | req/s (median) | ÷ nginx | CPU µs/request (median) | rounds (req/s) |"
        )
        print("|---|---|---:|---:|---:|---|")
        for name in paths:
            base = statistics.median(rates[name]["nginx"])
            entry: dict[str, Any] = {
                "bytes": len(tokens[name]),
                "sha256": hashlib.sha256(tokens[name]).hexdigest()[:16],
            }
            for peer in PEERS:
                med = statistics.median(rates[name][peer])
                us = statistics.median(cpu[name][peer])
                entry[peer] = {
                    "median": round(med),
                    "ratio": round(med / base, 3),
                    "cpu_us_per_request": round(us, 1),
                }
                rounds = ", ".join(f"{x:.0f}" for x in rates[name][peer])
                print(
                    f"| {name} ({len(tokens[name]):,} B) | {peer} | {med:,.0f} |"
                    f" {med / base:.2f}× | {us:.1f} | {rounds} |"
                )
            report["tokens"][name] = entry
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
    finally:
        for p in reversed(procs):
            if isinstance(p, subprocess.Popen):
                p.terminate()
                p.wait(10)
            else:
                p.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
