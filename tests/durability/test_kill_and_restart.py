"""Durability: revocations and allocations under concurrent load, ``kill -9`` of the server at a
random moment, restart on the same data directory. Every write that got a 2xx must be there;
no batch may be half-applied; no index handed out before the crash is handed out again."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from statuslist import StatusList
from tests.support import ServerProcess

SIZE = 200_000
BATCH = 25


def _entries(server: ServerProcess, list_id: str) -> StatusList:
    return server.served_list(list_id)


async def _load(
    url: str, key: str, list_id: str, stop_after: float
) -> tuple[list[list[int]], list[list[int]], list[int], int]:
    """Writers send disjoint batches (and single PUTs), allocators allocate, until the server
    dies. Returns (acked batches, sent-but-unacked batches, acked allocated indices, errors)."""
    acked: list[list[int]] = []
    unacked: list[list[int]] = []
    allocated: list[int] = []
    errors = 0
    order = list(range(SIZE))
    random.shuffle(order)
    cursor = 0
    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + stop_after + 30

    async def writer(session: aiohttp.ClientSession, n: int) -> None:
        nonlocal cursor, errors
        while time.monotonic() < deadline:
            size = 1 if n % 4 == 0 else BATCH
            batch = order[cursor : cursor + size]
            cursor += size
            if len(batch) < size:
                return
            try:
                if size == 1:
                    req = session.put(
                        f"{url}/v1/lists/{list_id}/entries/{batch[0]}",
                        json={"status": "INVALID"},
                        headers=headers,
                    )
                else:
                    req = session.patch(
                        f"{url}/v1/lists/{list_id}/entries",
                        json={"indices": batch, "status": "INVALID"},
                        headers=headers,
                    )
                async with req as resp:
                    await resp.read()
                    if resp.status == 200:
                        acked.append(batch)
                        continue
                    errors += 1
            except (aiohttp.ClientError, OSError):
                pass
            unacked.append(batch)
            return  # the server is gone

    async def allocator(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            try:
                async with session.post(
                    f"{url}/v1/allocations",
                    json={"count": 50, "list_id": list_id},
                    headers=headers,
                ) as resp:
                    body = await resp.read()
                    if resp.status != 201:
                        return
                    allocated.extend(e["status_list"]["idx"] for e in json.loads(body))
            except (aiohttp.ClientError, OSError):
                return

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(writer(session, n) for n in range(16)), allocator(session))
    return acked, unacked, allocated, errors


@pytest.mark.parametrize("seed", [1, 2])
def test_kill_9_loses_nothing_acknowledged(tmp_path: Path, seed: int) -> None:
    random.seed(seed)
    server = ServerProcess(tmp_path / "data", args=("--publish-interval", "0.2")).start()
    key = server.api_key
    lst = server.api("POST", "/v1/lists", {"bits": 1, "size": SIZE})
    list_id = lst["id"]
    kill_at = random.uniform(0.5, 2.0)

    async def scenario() -> tuple[list[list[int]], list[list[int]], list[int], int]:
        load = asyncio.create_task(_load(server.url, key, list_id, kill_at))
        await asyncio.sleep(kill_at)
        server.kill()
        return await load

    acked, unacked, allocated, errors = asyncio.run(scenario())
    assert errors == 0
    assert len(acked) > 20, "the load never got going before the kill"
    assert len(allocated) > 0

    server = ServerProcess(tmp_path / "data", port=server.port).start()
    try:
        sl = _entries(server, list_id)
        for batch in acked:
            assert [sl[i] for i in batch] == [1] * len(batch), "an acknowledged write was lost"
        for batch in unacked:
            values = {sl[i] for i in batch}
            assert len(values) == 1, f"a batch was half-applied: {batch}"
        acked_entries = sum(len(b) for b in acked)
        maybe = sum(len(b) for b in unacked)
        revoked = sl.counts().get(1, 0)
        assert acked_entries <= revoked <= acked_entries + maybe
        # Allocation continues after the restart without ever repeating an index.
        more = server.api("POST", "/v1/allocations", {"count": 2000, "list_id": list_id})
        fresh = [e["status_list"]["idx"] for e in more]
        assert len(set(fresh)) == len(fresh)
        assert not set(fresh) & set(allocated), "an index was handed out twice"
        assert len(set(allocated)) == len(allocated)
    finally:
        assert server.stop() == 0, server.log()


def test_graceful_restart_keeps_everything_and_serves_at_once(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    lst = server.api("POST", "/v1/lists", {"bits": 2, "size": 10_000, "formats": ["jwt", "cwt"]})
    server.api(
        "PATCH", f"/v1/lists/{lst['id']}/entries", {"indices": [3, 4, 5], "status": "SUSPENDED"}
    )
    server.api("POST", f"/v1/lists/{lst['id']}/publish")
    before = server.api("GET", f"/v1/lists/{lst['id']}")
    served: dict[str, Any] = {}
    for fmt in ("jwt", "cwt"):
        status, headers, body = server.request(
            "GET", f"/statuslists/{lst['id']}", headers={"Accept": f"application/statuslist+{fmt}"}
        )
        assert status == 200
        served[fmt] = (headers["ETag"], body)
    assert server.stop() == 0, server.log()

    server = ServerProcess(tmp_path / "data", port=server.port).start()
    try:
        after = server.api("GET", f"/v1/lists/{lst['id']}")
        assert after["counts"] == before["counts"] == {"VALID": 9997, "SUSPENDED": 3}
        # The persisted token is served right away: the same bytes, the same ETag.
        for fmt in ("jwt", "cwt"):
            status, headers, body = server.request(
                "GET",
                f"/statuslists/{lst['id']}",
                headers={"Accept": f"application/statuslist+{fmt}"},
            )
            assert status == 200
            assert (headers["ETag"], body) == served[fmt]
    finally:
        assert server.stop() == 0
