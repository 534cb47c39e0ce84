"""Durable single PUTs against the framework's ceiling, with ``wrk`` (issue #13, writes).

A real ``statuslist serve`` (SQLite, ``synchronous=FULL``, group commit) with one 10M-entry
list, and the do-nothing peer of ``benchmarks/put_peer.py``, driven in turns by the same ``wrk``
command: ``PUT /v1/lists/{id}/entries/{random idx}`` ``{"status":"INVALID"}`` from
``--connections`` keep-alive connections on one ``wrk`` thread (a Lua script picks the index).
Each round runs both peers for ``--seconds``; the figures are medians over ``--rounds``, and the
ratio is ours ÷ the peer's within each round. Any answer but 2xx fails the run, and the list's
INVALID count is read back (it must have grown).

    python3 -m benchmarks.put_wrk [--rounds 3] [--seconds 3] [--connections 64]
                                  [--before DIR]

``--before DIR`` adds a third peer, ``statuslist serve`` run from another checkout's ``python``
directory (its ``PYTHONPATH``; copy the built ``_native*.so`` into it), so that a change is
measured against the code before it in the same rounds.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from statuslist.loadtest.spawn import free_port
from tests.support import ServerProcess

SIZE = 10_000_000

_LUA = """
wrk.method = "PUT"
wrk.body = '{"status":"INVALID"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
math.randomseed(%(seed)d)
request = function()
  return wrk.format(nil, "/v1/lists/%(list_id)s/entries/" .. math.random(0, %(top)d))
end
"""


def _cpu(pid: int) -> float:
    """CPU seconds the process has used (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def put_script(server: ServerProcess, path: Path) -> str:
    """Creates a 10M-entry list on ``server`` and writes, at ``path``, the wrk script that PUTs
    to it; the list's id."""
    list_id: str = server.api("POST", "/v1/lists", {"bits": 1, "size": SIZE})["id"]
    values = {"key": server.api_key, "list_id": list_id, "top": SIZE - 1, "seed": 13}
    path.write_text(_LUA % values)
    return list_id


def run_wrk(
    wrk: str, url: str, script: Path, seconds: int, connections: int, pid: int
) -> tuple[float, float]:
    """Requests per second and the server's CPU microseconds per request; refuses a run with
    any non-2xx answer or socket error."""
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url]
    cpu = _cpu(pid)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout  # noqa: S603
    cpu = _cpu(pid) - cpu
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw failures:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise SystemExit(f"no rate in wrk's output:\n{out}")
    rate = float(found.group(1))
    return rate, cpu / (rate * seconds) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--only-ours", action="store_true", help="no peer (for profiling)")
    ap.add_argument("--before", type=Path, default=None, help="another checkout's python dir")
    args = ap.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        srv = ServerProcess(Path(tmp) / "data").start()
        old = None
        if args.before is not None:
            env = {"PYTHONPATH": str(args.before.resolve())}
            old = ServerProcess(Path(tmp) / "before", env=env).start()
        port = free_port()
        peer = subprocess.Popen([sys.executable, "-m", "benchmarks.put_peer", str(port)])  # noqa: S603
        try:
            script = Path(tmp) / "put.lua"
            list_id = put_script(srv, script)
            scripts = {"statuslist": script}
            if old is not None:
                scripts["before"] = Path(tmp) / "before.lua"
                put_script(old, scripts["before"])
            peer_url = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    urllib.request.urlopen(peer_url, timeout=1)
                except urllib.error.HTTPError:
                    break  # 404/405: it is up
                except OSError:
                    time.sleep(0.05)
            print(f"server pid {srv.proc.pid if srv.proc else 0}, peer pid {peer.pid}", flush=True)
            ours_pid = srv.proc.pid if srv.proc else 0
            peers = {"statuslist": (srv.url, ours_pid)}
            if old is not None and old.proc is not None:
                peers["before"] = (old.url, old.proc.pid)
            if not args.only_ours:
                peers["do-nothing PUT"] = (peer_url, peer.pid)
            for name, (url, pid) in peers.items():  # warm-up
                run_wrk(wrk, url, scripts.get(name, script), 1, args.connections, pid)
            rates: dict[str, list[float]] = {name: [] for name in peers}
            cpus: dict[str, list[float]] = {name: [] for name in peers}
            ratios: list[float] = []
            olds: list[float] = []
            for r in range(args.rounds):
                line = []
                for name, (url, pid) in peers.items():
                    lua = scripts.get(name, script)
                    rate, us = run_wrk(wrk, url, lua, args.seconds, args.connections, pid)
                    rates[name].append(rate)
                    cpus[name].append(us)
                    line.append(f"{name} {rate:,.0f}/s ({us:.0f} us CPU/request)")
                if "do-nothing PUT" in peers:
                    ratios.append(rates["statuslist"][-1] / rates["do-nothing PUT"][-1])
                    line.append(f"ratio {ratios[-1]:.2f}x")
                    if "before" in peers:
                        olds.append(rates["before"][-1] / rates["do-nothing PUT"][-1])
                        line.append(f"before's ratio {olds[-1]:.2f}x")
                print(f"round {r + 1}: " + ", ".join(line), flush=True)
            revoked = srv.api("GET", f"/v1/lists/{list_id}")["counts"]["INVALID"]
            if revoked == 0:
                raise SystemExit("no entry was revoked")
            med = statistics.median
            summary = [
                f"{name} {med(rates[name]):,.0f}/s ({med(cpus[name]):.0f} us CPU/request)"
                for name in peers
            ]
            if ratios:
                summary.append(f"ratio {med(ratios):.2f}x")
            if olds:
                summary.append(f"before's ratio {med(olds):.2f}x")
            print("medians: " + ", ".join(summary) + f"; INVALID entries read back: {revoked:,}")
        finally:
            peer.terminate()
            peer.wait()
            srv.stop()
            if old is not None:
                old.stop()


if __name__ == "__main__":
    main()
