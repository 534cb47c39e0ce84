"""Concurrent large allocations with one ``curl`` process per request (no Python client in the
way): a real ``statuslist serve`` on a fresh data directory, a 100M-entry list, ``--alone``
requests of ``--count`` entries one after the other, then ``--concurrent`` of them at once.
Prints curl's time to the first byte (the server sends its headers once the whole answer is
computed) and to the last byte, and checks the list's ``allocated`` counter.

    python3 -m benchmarks.concurrent_allocations_curl [--concurrent 50] [--count 100000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support import ServerProcess


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrent", type=int, default=50)
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--alone", type=int, default=5)
    args = ap.parse_args()
    curl = shutil.which("curl")
    if curl is None:
        raise SystemExit("curl is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        srv = ServerProcess(Path(tmp) / "data").start()
        try:
            doc = srv.api("POST", "/v1/lists", {"bits": 1, "size": 100_000_000})
            body = json.dumps({"count": args.count, "list_id": doc["id"]})
            write_out = "%{http_code} %{time_starttransfer} %{time_total}\\n"
            cmd = [curl, "-s", "-o", "/dev/null", "-w", write_out, "-d", body]
            cmd += ["-H", f"Authorization: Bearer {srv.api_key}"]
            cmd += ["-H", "Content-Type: application/json", f"{srv.url}/v1/allocations"]

            def parse(out: str) -> tuple[float, float]:
                code, first, last = out.split()
                if code != "201":
                    raise SystemExit(f"answered HTTP {code}")
                return float(first), float(last)

            alone = []
            for _ in range(args.alone):
                done = subprocess.run(cmd, capture_output=True, text=True, check=True)  # noqa: S603
                alone.append(parse(done.stdout))
            started = time.perf_counter()
            procs = [
                subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)  # noqa: S603
                for _ in range(args.concurrent)
            ]
            together = [parse(p.communicate()[0]) for p in procs]
            wall = time.perf_counter() - started
            allocated = srv.api("GET", f"/v1/lists/{doc['id']}")["allocated"]
            expected = args.count * (args.alone + args.concurrent)
            if allocated != expected:
                raise SystemExit(f"allocated {allocated}, expected {expected}")
        finally:
            srv.stop()

    def dist(values: list[float]) -> str:
        v = sorted(values)
        p90 = v[min(len(v) - 1, round(0.9 * (len(v) - 1)))]
        return f"min {v[0]:.3f} p50 {statistics.median(v):.3f} p90 {p90:.3f} max {v[-1]:.3f} s"

    first, last = [a for a, _ in alone], [b for _, b in alone]
    print(f"alone ({args.alone} x {args.count:,}): first byte {dist(first)}; last {dist(last)}")
    first, last = [a for a, _ in together], [b for _, b in together]
    print(f"{args.concurrent} at once: wall {wall:.3f} s (with starting the curl processes)")
    print(f"  first byte {dist(first)}; last byte {dist(last)}")
    rate = args.concurrent * args.count / wall
    print(f"allocated {allocated:,} (read back); {rate:,.0f} indices/s over the wall time")


if __name__ == "__main__":
    main()
