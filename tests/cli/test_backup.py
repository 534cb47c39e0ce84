"""``statuslist backup DEST``: a consistent copy of the embedded store taken while the server
takes writes, served by ``statuslist serve --data DEST`` with every write acknowledged before
the backup began, no batch half there, and allocation counters that never hand an index out
twice; refusals are one clear line."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support import ServerProcess

SIZE = 50_000
BATCH = 20


def _backup(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "statuslist", "backup", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _statuses(server: ServerProcess, list_id: str) -> bytes:
    """Every entry's status, read from a freshly published token."""
    sl = server.served_list(list_id)
    return bytes(sl[i] for i in range(SIZE))


def test_backup_under_writes_is_consistent_and_serves(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data).start()
    list_id = server.api("POST", "/v1/lists", {"bits": 1, "size": SIZE})["id"]
    allocated = server.api("POST", "/v1/allocations", {"count": 100, "list_id": list_id})
    handed_out = {e["status_list"]["idx"] for e in allocated}
    assert len(handed_out) == 100
    acked: list[tuple[float, list[int]]] = []
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set() and (n + 1) * BATCH <= SIZE:
            batch = list(range(n * BATCH, (n + 1) * BATCH))
            n += 1
            code, _, _ = server.request(
                "PATCH", f"/v1/lists/{list_id}/entries", {"indices": batch, "status": "INVALID"},
                key=server.api_key,
            )  # fmt: skip
            if code == 200:
                acked.append((time.monotonic(), batch))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(1.0)
        began = time.monotonic()
        done = _backup(str(tmp_path / "copy"), "--data", str(data))
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join()
        server.stop()
    assert done.returncode == 0, done.stderr
    assert "every checksum verified" in done.stderr and "Traceback" not in done.stderr
    before = [b for t, b in acked if t < began]
    assert before and len(acked) > len(before), "the backup ran while writes went on"
    copy = ServerProcess(tmp_path / "copy").start()
    try:
        statuses = _statuses(copy, list_id)
        for batch in before:
            assert all(statuses[i] == 1 for i in batch)
        for n in range(SIZE // BATCH):  # each batch all there or not at all
            chunk = statuses[n * BATCH : (n + 1) * BATCH]
            assert len(set(chunk)) == 1, (n, chunk)
        again = copy.api("POST", "/v1/allocations", {"count": 100, "list_id": list_id})
        assert not handed_out & {e["status_list"]["idx"] for e in again}, "handed out twice"
    finally:
        copy.stop()
    assert (tmp_path / "copy" / "statuslist.db").stat().st_mode & 0o077 == 0


def test_backup_refusals(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ServerProcess(data).start().stop()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    cases = [
        ((str(tmp_path / "full"), "--data", str(data)), "is not an empty directory"),
        ((str(tmp_path / "c1"), "--data", str(tmp_path / "nothing")), "no database at"),
        ((str(tmp_path / "c2"), "--database-url", "postgresql://x@127.0.0.1/y"), "pg_dump"),
    ]
    for argv, message in cases:
        proc = _backup(*argv)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("statuslist: error: ") and message in proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "c1").exists()  # nothing left behind by a failed backup


def test_backup_of_a_damaged_store_says_which_list(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data).start()
    list_id = server.api("POST", "/v1/lists", {"bits": 1, "size": 1000})["id"]
    server.api("PUT", f"/v1/lists/{list_id}/entries/3", {"status": "INVALID"})
    server.stop()
    conn = sqlite3.connect(data / "statuslist.db")
    conn.execute("UPDATE changes SET new = x'00'")
    conn.commit()
    conn.close()
    proc = _backup(str(tmp_path / "copy"), "--data", str(data))
    assert proc.returncode == 1, proc.stderr
    assert f"damaged in the source too: {list_id}" in proc.stderr
