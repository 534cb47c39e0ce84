"""Faults an operator meets, each with the real process and real files: stored bytes damaged
(bitmap pages, the change-log tail, list records, stored tokens — by SQL and by editing the
file), the ``-wal`` file lost or torn after a crash, the disk full while serving and at start,
read-only and malformed databases, and a flood of malformed requests.

The rules: a damaged list is never served as statuses (503 ``list-damaged`` for its token and
its entries, ``/readyz`` red naming it) while every other list is served; a start that cannot
be trusted or cannot work exits 2 with one ``statuslist: error:`` line naming the file and the
cause; a full disk is a 503 ``storage-full`` with ``Retry-After``, never a half-applied write;
nothing anywhere prints a traceback."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from statuslist.client import StatusListClient, VerifiedStatusList
from tests.support import ServerProcess, fill, remount, serve_once, tmpfs

SIZE = 100_000
RUN = range(1000, 1512)  # 512 one-bit entries: 64 bytes of 0xFF in the bitmap page


def _db(data: Path) -> Path:
    return data / "statuslist.db"


def _sql(data: Path, statement: str, *params: object) -> None:
    conn = sqlite3.connect(_db(data))
    try:
        conn.execute(statement, params)
        conn.commit()
    finally:
        conn.close()


def _revoke(server: ServerProcess, list_id: str, indices: list[int]) -> None:
    server.api("PATCH", f"/v1/lists/{list_id}/entries", {"indices": indices, "status": "INVALID"})


def _status(server: ServerProcess, list_id: str, idx: int) -> tuple[int, dict[str, object]]:
    code, _, body = server.request("GET", f"/v1/lists/{list_id}/entries/{idx}", key=server.api_key)
    return code, json.loads(body)


def _two_lists(data: Path, *, crash_after_more: bool = False) -> tuple[ServerProcess, str, str]:
    """A server with two lists; the first has the 64-byte run revoked and checkpointed
    (graceful stop). With ``crash_after_more`` the server is started again, more of the first
    list is revoked (log rows after the checkpoint) and the server is killed -9. Returns the
    stopped server and the ids (victim, bystander)."""
    server = ServerProcess(data).start()
    victim = server.api("POST", "/v1/lists", {"bits": 1, "size": SIZE})["id"]
    bystander = server.api("POST", "/v1/lists", {"bits": 1, "size": SIZE})["id"]
    _revoke(server, victim, list(RUN))
    _revoke(server, bystander, [7])
    assert server.stop() == 0
    if crash_after_more:
        server.start()
        _revoke(server, victim, [50_000, 50_001])
        _revoke(server, victim, [60_000])
        time.sleep(1.5)  # the high-water mark catches up once writes pause
        server.kill()
    return server, victim, bystander


def _zero_run_in_file(data: Path, victim: str) -> None:
    raw = bytearray(_db(data).read_bytes())
    at = raw.find(b"\xff" * 64)
    assert at >= 0, "the revoked run is not in the main database file"
    raw[at : at + 64] = bytes(64)
    _db(data).write_bytes(bytes(raw))


Damage = Callable[[Path, str], None]

#: Damage to what the last checkpoint stored.
CHECKPOINT_DAMAGE: dict[str, Damage] = {
    "page bytes zeroed in the file": _zero_run_in_file,
    "page zeroed by SQL": lambda d, v: _sql(
        d, "UPDATE pages SET data = zeroblob(length(data)) WHERE list_id = ?", v
    ),
    "one page byte flipped": lambda d, v: _sql(
        d,
        "UPDATE pages SET data = substr(data, 1, 200) || x'7f' || substr(data, 202)"
        " WHERE list_id = ? AND page = 0",
        v,
    ),
    "page truncated": lambda d, v: _sql(
        d, "UPDATE pages SET data = substr(data, 1, 100) WHERE list_id = ?", v
    ),
    "permutation key replaced": lambda d, v: _sql(
        d, "UPDATE lists SET perm_key = randomblob(32) WHERE id = ?", v
    ),
    "bits changed": lambda d, v: _sql(d, "UPDATE lists SET bits = 2 WHERE id = ?", v),
    "size changed": lambda d, v: _sql(d, "UPDATE lists SET size = 800 WHERE id = ?", v),
}

#: Damage to the change-log tail a restart replays: what the victim's last log row is set to.
LOG_DAMAGE: dict[str, str] = {
    "new value un-revoked": "new = x'00'",
    "indices moved": "indices = x'0100000000000000'",
    "indices cut short": "indices = substr(indices, 1, 5)",
    "indices made text": "indices = 'abc'",
    "actor rewritten": "actor = 'someone else'",
    "checksum removed": "crc = NULL",
}


def _damage_last_change(data: Path, victim: str, assignment: str) -> None:
    last = "WHERE seq = (SELECT MAX(seq) FROM changes WHERE list_id = ?)"
    _sql(data, " ".join(("UPDATE changes SET", assignment, last)), victim)


def _assert_quarantined(server: ServerProcess, victim: str, bystander: str) -> None:
    code, headers, body = server.request("GET", f"/statuslists/{victim}")
    assert code == 503, body
    problem = json.loads(body)
    assert problem["type"].endswith("list-damaged") and victim in problem["detail"]
    assert headers.get("Cache-Control") == "no-store"
    assert _status(server, victim, 1000)[0] == 503
    code, _, body = server.request(
        "PATCH", f"/v1/lists/{victim}/entries", {"indices": [1], "status": "VALID"},
        key=server.api_key,
    )  # fmt: skip
    assert code == 503 and b"list-damaged" in body
    code, _, body = server.request("GET", "/readyz")
    assert code == 503 and victim.encode() in body and b"damaged" in body
    # The rest is served as before.
    assert server.request("GET", f"/statuslists/{bystander}")[0] == 200
    assert _status(server, bystander, 7) == (200, {"idx": 7, "status": 1, "name": "INVALID"})
    _revoke(server, bystander, [8])
    assert "Traceback" not in server.log()


@pytest.mark.parametrize("damage", CHECKPOINT_DAMAGE, ids=list(CHECKPOINT_DAMAGE))
def test_damaged_checkpoint_is_not_served(tmp_path: Path, damage: str) -> None:
    data = tmp_path / "data"
    server, victim, bystander = _two_lists(data)
    CHECKPOINT_DAMAGE[damage](data, victim)
    server.start(probe="/healthz")
    try:
        _assert_quarantined(server, victim, bystander)
    finally:
        server.stop()


@pytest.mark.parametrize("damage", LOG_DAMAGE, ids=list(LOG_DAMAGE))
def test_damaged_log_tail_is_not_replayed(tmp_path: Path, damage: str) -> None:
    data = tmp_path / "data"
    server, victim, bystander = _two_lists(data, crash_after_more=True)
    _damage_last_change(data, victim, LOG_DAMAGE[damage])
    server.start(probe="/healthz")
    try:
        _assert_quarantined(server, victim, bystander)
    finally:
        server.stop()


def test_undamaged_restart_serves_everything(tmp_path: Path) -> None:
    """The control: the same steps without damage serve every revocation."""
    data = tmp_path / "data"
    server, victim, bystander = _two_lists(data, crash_after_more=True)
    server.start()
    try:
        for idx in (1000, 1511, 50_000, 50_001, 60_000):
            assert _status(server, victim, idx)[1]["name"] == "INVALID"
        assert _status(server, victim, 999)[1]["name"] == "VALID"
        assert _status(server, bystander, 7)[1]["name"] == "INVALID"
    finally:
        server.stop()


@pytest.mark.parametrize(
    "damage",
    [
        "UPDATE tokens SET body = substr(body, 1, length(body) - 3) || 'AAA'",
        "UPDATE tokens SET body = zeroblob(length(body))",
        "UPDATE tokens SET iat = iat - 1000",
    ],
    ids=["signature", "zeroed", "iat"],
)
def test_a_damaged_stored_token_is_signed_afresh(tmp_path: Path, damage: str) -> None:
    data = tmp_path / "data"
    server, victim, _ = _two_lists(data)
    _sql(data, damage)
    server.start()

    async def fetch() -> VerifiedStatusList:
        async with StatusListClient(jwks_url=f"{server.url}/.well-known/jwks.json") as client:
            return await client.status_list(f"{server.url}/statuslists/{victim}")

    try:
        verified = asyncio.run(fetch())  # signature checked against the JWKS
        assert verified.status_list[1000] == 1 and verified.status_list[999] == 0
        assert "fails its checksum" in server.log()
    finally:
        server.stop()


# -- the -wal file -------------------------------------------------------------------------------


def _crashed_with_wal(data: Path) -> tuple[ServerProcess, str]:
    server = ServerProcess(data).start()
    list_id = server.api("POST", "/v1/lists", {"bits": 1, "size": SIZE})["id"]
    assert server.stop() == 0  # the list is in the main file now
    server.start()
    for n in range(20):
        _revoke(server, list_id, [100 + n])
    time.sleep(1.5)
    server.kill()
    wal = data / "statuslist.db-wal"
    assert wal.is_file() and wal.stat().st_size > 0
    return server, list_id


@pytest.mark.parametrize(
    "lose",
    [
        lambda wal: wal.unlink(),
        lambda wal: wal.write_bytes(b""),
        lambda wal: wal.write_bytes(wal.read_bytes()[:32] + bytes(len(wal.read_bytes()) - 32)),
    ],
    ids=["deleted", "emptied", "frames zeroed"],
)
def test_a_lost_wal_is_refused_not_served_older(
    tmp_path: Path, lose: Callable[[Path], object]
) -> None:
    data = tmp_path / "data"
    server, list_id = _crashed_with_wal(data)
    lose(data / "statuslist.db-wal")
    refused = serve_once(data)
    assert refused.returncode == 2, refused.stderr
    line = [x for x in refused.stderr.splitlines() if x.startswith("statuslist: error:")]
    assert len(line) == 1 and "statuslist.db" in line[0] and "-wal" in line[0], refused.stderr
    assert "Traceback" not in refused.stderr
    # Deleting the mark serves the older state on purpose.
    (data / "statuslist.db.mark").unlink()
    server.start()
    try:
        assert _status(server, list_id, 0)[0] == 200
    finally:
        server.stop()


def test_a_crash_with_the_wal_intact_restarts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server, list_id = _crashed_with_wal(data)
    server.start()
    try:
        assert all(_status(server, list_id, 100 + n)[1]["name"] == "INVALID" for n in range(20))
    finally:
        server.stop()


# -- the disk ------------------------------------------------------------------------------------


def test_a_full_disk_is_a_503_and_nothing_half_applied(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "12m") as disk:
        server = ServerProcess(disk / "data").start()
        try:
            list_id = server.api("POST", "/v1/lists", {"bits": 2, "size": SIZE})["id"]
            filler = fill(disk)
            answers = []
            for n in range(40):
                code, headers, body = server.request(
                    "PATCH", f"/v1/lists/{list_id}/entries",
                    {"indices": list(range(n * 100, n * 100 + 100)), "status": "SUSPENDED"},
                    key=server.api_key,
                )  # fmt: skip
                answers.append((code, headers, body))
            for code, headers, body in answers:
                assert code == 503, body
                problem = json.loads(body)
                assert problem["type"].endswith("storage-full"), problem
                assert "disk is full" in problem["detail"]
                assert int(headers["Retry-After"]) >= 1
            for path, body in (("/v1/lists", {"bits": 1}), ("/v1/allocations", {"count": 5})):
                code, _, reply = server.request("POST", path, body, key=server.api_key)
                assert code == 503 and b"storage-full" in reply
            code, _, body = server.request("GET", "/readyz")
            assert code == 200 and b"degraded" in body and b"disk is full" in body
            assert server.request("GET", f"/statuslists/{list_id}")[0] == 200  # still served
            filler.unlink()
            _revoke(server, list_id, [5])
            assert b'"ready"' in server.request("GET", "/readyz")[2]
            assert _status(server, list_id, 5)[1]["name"] == "INVALID"
            assert all(_status(server, list_id, i)[1]["name"] == "VALID" for i in (0, 99, 3999))
        finally:
            server.stop()
        log = server.log()
        assert "Traceback" not in log
        assert log.count("storage failed") <= 8, log  # throttled, not one line per request


def _error_line(proc: object) -> str:
    stderr: str = proc.stderr  # type: ignore[attr-defined]
    assert proc.returncode == 2, stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr, stderr
    lines = [x for x in stderr.splitlines() if x.startswith("statuslist: error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_start_on_a_full_disk(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "4m") as disk:
        fill(disk)
        line = _error_line(serve_once(disk / "data"))
        assert str(disk) in line, line
        assert "no space left" in line.lower() or "disk is full" in line, line


def test_start_on_a_full_disk_with_an_existing_database(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "8m") as disk:
        data = disk / "data"
        ServerProcess(data).start().stop()
        fill(disk)
        proc = serve_once(data, timeout=60)
        if proc.returncode != 0:  # a full disk may still open; when it does not, it says why
            line = _error_line(proc)
            assert "statuslist.db" in line or str(data) in line


@pytest.mark.parametrize("existing", [False, True], ids=["fresh", "existing data"])
def test_start_on_a_read_only_mount(tmp_path: Path, existing: bool) -> None:
    with tmpfs(tmp_path / "disk", "16m") as disk:
        data = disk / "data"
        if existing:
            ServerProcess(data).start().stop()
        remount(disk, read_only=True)
        line = _error_line(serve_once(data))
        assert "read-only" in line.lower(), line
        assert str(disk) in line, line


@pytest.mark.parametrize(
    "make",
    [
        lambda db: db.write_bytes(b"this is not a database" * 1000),
        lambda db: db.write_bytes(b"SQLite format 3\x00" + bytes(5000)),
        lambda db: db.mkdir(),
        lambda db: _sqlite_version(db, 99),
    ],
    ids=["garbage", "bad header", "a directory", "newer schema"],
)
def test_start_on_an_unusable_database_file(tmp_path: Path, make: Callable[[Path], object]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    make(_db(data))
    line = _error_line(serve_once(data))
    assert str(_db(data)) in line, line


def _sqlite_version(db: Path, version: int) -> None:
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


def test_a_version_1_database_is_migrated_and_checked(tmp_path: Path) -> None:
    """A database written before checksums: opened, given checksums for what is there, served
    as before, and protected from then on."""
    data = tmp_path / "data"
    server, victim, bystander = _two_lists(data)
    conn = sqlite3.connect(_db(data))
    for table in ("lists", "pages", "changes", "tokens"):
        conn.execute(f"ALTER TABLE {table} DROP COLUMN crc")
    conn.execute("DROP TABLE meta")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    server.start()
    try:
        assert _status(server, victim, 1000)[1]["name"] == "INVALID"
        assert _status(server, bystander, 7)[1]["name"] == "INVALID"
    finally:
        server.stop()
    CHECKPOINT_DAMAGE["page zeroed by SQL"](data, victim)
    server.start(probe="/healthz")
    try:
        _assert_quarantined(server, victim, bystander)
    finally:
        server.stop()


# -- the log ---------------------------------------------------------------------------------------

MALFORMED = [
    b"GET /\x01\x02 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"BLAH\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(40),
    b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: x\r\n\r\nzz\r\n",
]


def test_malformed_requests_do_not_flood_the_log(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        for n in range(300):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
                s.sendall(MALFORMED[n % len(MALFORMED)])
                s.settimeout(5)
                try:
                    reply = s.recv(100)
                except TimeoutError:
                    reply = b""
                assert not reply.startswith(b"HTTP/1.1 5") and not reply.startswith(b"HTTP/1.0 5")
        assert server.request("GET", "/healthz")[0] == 200
    finally:
        server.stop()
    log = server.log()
    assert "Traceback" not in log
    assert "ERROR aiohttp" not in log
    brief = [x for x in log.splitlines() if "malformed HTTP request" in x]
    assert 1 <= len(brief) <= 10, log
