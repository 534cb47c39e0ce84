"""Sequential ``POST /v1/allocations`` of ``--count`` entries on one list of a real
``statuslist serve``, from a lean client (``http.client``, one keep-alive connection, bodies read
and thrown away while timing), for ``--seconds``: what the server can do one request at a time
when the client is not the limit (``benchmarks/test_http.py -k allocation_batches`` uses an
aiohttp client, which on this 2-core machine takes about as long to read each answer as the
server takes to write it). Afterwards every answer is checked: all indices distinct, in range,
and the list's ``allocated`` counter read back.

    python3 -m benchmarks.sequential_allocations [--count 10000] [--seconds 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import time
from pathlib import Path

from tests.support import ServerProcess

SIZE = 100_000_000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        srv = ServerProcess(Path(tmp) / "data").start()
        try:
            list_id = srv.api("POST", "/v1/lists", {"bits": 1, "size": SIZE})["id"]
            conn = http.client.HTTPConnection("127.0.0.1", srv.port)
            body = json.dumps({"count": args.count, "list_id": list_id})
            headers = {"Authorization": f"Bearer {srv.api_key}", "Content-Type": "application/json"}
            answers: list[bytes] = []
            latencies: list[float] = []
            started = time.perf_counter()
            while time.perf_counter() - started < args.seconds:
                t = time.perf_counter()
                conn.request("POST", "/v1/allocations", body, headers)
                resp = conn.getresponse()
                raw = resp.read()
                latencies.append(time.perf_counter() - t)
                if resp.status != 201:
                    raise SystemExit(f"answered HTTP {resp.status}: {raw[:300]!r}")
                answers.append(raw)
            wall = time.perf_counter() - started
            seen: set[int] = set()
            for raw in answers:
                seen.update(e["status_list"]["idx"] for e in json.loads(raw))
            total = len(answers) * args.count
            if len(seen) != total or not all(0 <= i < SIZE for i in seen):
                raise SystemExit("an index was handed out twice, or out of range")
            allocated = srv.api("GET", f"/v1/lists/{list_id}")["allocated"]
            if allocated != total:
                raise SystemExit(f"the list says {allocated} allocated, {total} were handed out")
            latencies.sort()
            p50 = latencies[len(latencies) // 2] * 1e3
            p90 = latencies[int(len(latencies) * 0.9)] * 1e3
            print(
                f"{len(answers)} requests of {args.count:,}: {total / wall:,.0f} indices/s; "
                f"request p50 {p50:.2f} ms, p90 {p90:.2f} ms, max {latencies[-1] * 1e3:.2f} ms; "
                f"allocated {allocated:,} (read back, all distinct)"
            )
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
