"""The embedded SQLite storage: one file in the data directory, WAL, ``synchronous=FULL``.

Writes go through one writer thread. It takes every operation waiting in its queue (up to
``max_group``), runs each inside its own savepoint of one transaction, and commits once: a burst of
concurrent requests shares one fsync (group commit). An operation that raises is rolled back to
its savepoint alone; a commit that fails fails every operation of the group. The operations are
this module's own functions of the connection: no caller code runs on the writer thread. Reads
use a second connection (WAL lets it read while the writer writes).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from statuslist.storage import (
    ApiKeyRecord,
    Change,
    Checkpoint,
    ListRecord,
    LoadedList,
    NewChange,
    StorageError,
    StoredToken,
)

__all__ = ["SQLiteStorage"]

T = TypeVar("T")

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS lists (
    id TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    bits INTEGER NOT NULL,
    size INTEGER NOT NULL,
    ttl INTEGER NOT NULL,
    formats TEXT NOT NULL,
    final_invalid INTEGER NOT NULL,
    decoys INTEGER NOT NULL,
    auto INTEGER NOT NULL,
    created_at REAL NOT NULL,
    perm_key BLOB NOT NULL,
    counter INTEGER NOT NULL DEFAULT 0,
    checkpoint_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS lists_issuer ON lists(issuer);
CREATE TABLE IF NOT EXISTS pages (
    list_id TEXT NOT NULL,
    page INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (list_id, page)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id TEXT NOT NULL,
    indices BLOB NOT NULL,
    old BLOB NOT NULL,
    new BLOB NOT NULL,
    at REAL NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_list ON changes(list_id, seq);
CREATE TABLE IF NOT EXISTS tokens (
    list_id TEXT NOT NULL,
    fmt TEXT NOT NULL,
    body BLOB NOT NULL,
    iat INTEGER NOT NULL,
    exp INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (list_id, fmt)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS token_history (
    list_id TEXT NOT NULL,
    fmt TEXT NOT NULL,
    iat INTEGER NOT NULL,
    exp INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (list_id, fmt, iat)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    scope TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


# -- the write operations (run on the writer thread, inside a savepoint) ------------------------


def _insert_list(conn: sqlite3.Connection, r: ListRecord, decoys: NewChange | None) -> int:
    conn.execute(
        "INSERT INTO lists (id, issuer, bits, size, ttl, formats, final_invalid, decoys, auto,"
        " created_at, perm_key) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            r.id,
            r.issuer,
            r.bits,
            r.size,
            r.ttl,
            json.dumps(list(r.formats)),
            int(r.final_invalid),
            r.decoys,
            int(r.auto),
            r.created_at,
            r.perm_key,
        ),
    )
    return _append(conn, [decoys])[0] if decoys is not None else 0


def _append(conn: sqlite3.Connection, changes: Sequence[NewChange]) -> list[int]:
    seqs = []
    for c in changes:
        cur = conn.execute(
            "INSERT INTO changes (list_id, indices, old, new, at, actor) VALUES (?,?,?,?,?,?)",
            (c.list_id, c.indices, c.old, c.new, c.at, c.actor),
        )
        seqs.append(int(cur.lastrowid or 0))
    return seqs


def _reserve(conn: sqlite3.Connection, list_id: str, count: int, limit: int) -> tuple[int, int]:
    row = conn.execute("SELECT counter FROM lists WHERE id = ?", (list_id,)).fetchone()
    if row is None:
        raise StorageError(f"no list {list_id!r} in the database")
    first = int(row[0])
    n = max(0, min(count, limit - first))
    if n:
        conn.execute("UPDATE lists SET counter = ? WHERE id = ?", (first + n, list_id))
    return first, n


def _checkpoint(conn: sqlite3.Connection, items: Sequence[Checkpoint]) -> None:
    for item in items:
        conn.executemany(
            "INSERT OR REPLACE INTO pages (list_id, page, data) VALUES (?,?,?)",
            [(item.list_id, n, data) for n, data in item.pages.items()],
        )
        conn.execute(
            "UPDATE lists SET checkpoint_seq = MAX(checkpoint_seq, ?) WHERE id = ?",
            (item.seq, item.list_id),
        )


def _save_tokens(
    conn: sqlite3.Connection, tokens: Sequence[StoredToken], archive_until: float | None
) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO tokens (list_id, fmt, body, iat, exp, seq) VALUES (?,?,?,?,?,?)",
        [(t.list_id, t.fmt, t.body, t.iat, t.exp, t.seq) for t in tokens],
    )
    if archive_until is not None:
        conn.executemany(
            "INSERT OR REPLACE INTO token_history (list_id, fmt, iat, exp, body)"
            " VALUES (?,?,?,?,?)",
            [(t.list_id, t.fmt, t.iat, t.exp, t.body) for t in tokens],
        )
        conn.execute("DELETE FROM token_history WHERE exp < ?", (archive_until,))


def _insert_api_key(conn: sqlite3.Connection, r: ApiKeyRecord) -> None:
    conn.execute(
        "INSERT INTO api_keys (key_hash, issuer, scope, label, created_at) VALUES (?,?,?,?,?)",
        (r.key_hash, r.issuer, r.scope, r.label, r.created_at),
    )


#: (operation, its arguments, the future to settle, that future's loop)
_Item = tuple[Callable[..., Any] | None, tuple[Any, ...], "asyncio.Future[Any] | None", Any]
_STOP: _Item = (None, (), None, None)


def _settle(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.done():  # the awaiting request went away; the write itself stands
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


class SQLiteStorage:
    """:class:`~statuslist.storage.Storage` on one SQLite file."""

    def __init__(self, path: Path, *, max_group: int = 4096, exclusive: bool = False) -> None:
        self.path = path
        #: Held by a server (``exclusive``): a second server on the same file is refused, while
        #: one-off commands (``apikey create``) may still open it alongside.
        self._exclusive = exclusive
        self._lock_fd: int | None = None
        self._max_group = max_group
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_seq = 0  # the highest committed change sequence (read on the loop)
        self._grown: asyncio.Event | None = None
        self.commits = 0  # fsyncs so far; group commit shows as commits < writes
        self.writes = 0
        self.shared = False  # one process per database: nobody else writes

    def _take_lock(self) -> None:
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StorageError(
                f"{self.path} is in use by another statuslist serve (pid {holder}); one server "
                "per data directory (several instances share a PostgreSQL database instead)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _drop_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    async def open(self) -> None:
        def setup() -> int:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self._exclusive:
                self._take_lock()
            conn = _connect(self.path)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                conn.close()
                raise StorageError(
                    f"{self.path} has schema version {version}; this statuslist knows "
                    f"{SCHEMA_VERSION}: upgrade statuslist"
                )
            conn.executescript(f"BEGIN; {SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
            self._writer = conn
            self._reader = _connect(self.path)
            return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0])

        try:
            self._last_seq = await asyncio.to_thread(setup)
        except sqlite3.Error as exc:
            self._drop_lock()
            raise StorageError(f"cannot open {self.path}: {exc}") from None
        self._loop = asyncio.get_running_loop()
        self._grown = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="statuslist-writer", daemon=True)
        self._thread.start()

    async def close(self) -> None:
        """Commits everything queued, then closes. Idempotent."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        self._thread = None
        for conn in (self._writer, self._reader):
            if conn is not None:
                conn.close()
        self._writer = self._reader = None
        self._drop_lock()

    # -- writes: submitted when called, settled on the caller's loop once committed -----------

    def append(
        self, changes: Sequence[NewChange], expect: Mapping[str, int] | None = None
    ) -> Awaitable[list[int]]:
        # ``expect`` holds by construction: this process is the database's only writer.
        return self._submit(_append, changes)

    def insert_list(self, record: ListRecord, decoys: NewChange | None = None) -> Awaitable[int]:
        return self._submit(_insert_list, record, decoys)

    def reserve(self, list_id: str, count: int, limit: int) -> Awaitable[tuple[int, int]]:
        return self._submit(_reserve, list_id, count, limit)

    def save_tokens(
        self, tokens: Sequence[StoredToken], *, archive_until: float | None = None
    ) -> Awaitable[None]:
        return self._submit(_save_tokens, tokens, archive_until)

    def checkpoint(self, items: Sequence[Checkpoint]) -> Awaitable[None]:
        return self._submit(_checkpoint, items)

    def insert_api_key(self, record: ApiKeyRecord) -> Awaitable[None]:
        return self._submit(_insert_api_key, record)

    def _submit(self, op: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        if self._thread is None:
            fut.set_exception(StorageError("storage is closed"))
        else:
            self._queue.put((op, args, fut, loop))
        return fut

    # -- the writer thread --------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            stop = item[0] is None
            group = [] if stop else [item]
            while not stop and len(group) < self._max_group:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt[0] is None:
                    stop = True
                else:
                    group.append(nxt)
            if group:
                self._commit(group)
            if stop:
                return

    def _commit(self, group: list[_Item]) -> None:
        conn = self._writer
        outcomes: list[tuple[Any, BaseException | None]] = []
        if conn is None:  # closed under us: fail the group rather than the thread
            outcomes = [(None, StorageError("storage is closed"))] * len(group)
        else:
            try:
                conn.execute("BEGIN IMMEDIATE")
                for op, args, _, _ in group:
                    conn.execute("SAVEPOINT w")
                    try:
                        if op is None:  # pragma: no cover - the stop marker never joins a group
                            raise StorageError("internal: no operation")
                        outcomes.append((op(conn, *args), None))
                        conn.execute("RELEASE w")
                    except Exception as exc:
                        conn.execute("ROLLBACK TO w")
                        conn.execute("RELEASE w")
                        if isinstance(exc, sqlite3.Error):
                            exc = StorageError(f"the write did not commit: {exc}")
                        outcomes.append((None, exc))
                conn.execute("COMMIT")
                self.commits += 1
                self.writes += len(group)
            except sqlite3.Error as db_error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                failure = StorageError(f"the write did not commit: {db_error}")
                outcomes = [(None, failure)] * len(group)
        last = max(
            (
                max(r) if isinstance(r, list) else r
                for (op, _, _, _), (r, e) in zip(group, outcomes, strict=True)
                if e is None and op in (_append, _insert_list) and r
            ),
            default=0,
        )
        for (_, _, fut, loop), (result, error) in zip(group, outcomes, strict=True):
            if fut is not None:
                loop.call_soon_threadsafe(_settle, fut, result, error)
        if last and self._loop is not None:
            self._loop.call_soon_threadsafe(self._advance, last)

    def _advance(self, seq: int) -> None:
        if seq > self._last_seq:
            self._last_seq = seq
            if self._grown is not None:
                self._grown.set()
            self._grown = asyncio.Event()

    async def wait_changes(self, after_seq: int, within: float) -> int:
        deadline = time.monotonic() + within
        while self._last_seq <= after_seq:
            left = deadline - time.monotonic()
            if left <= 0 or self._grown is None:
                break
            try:
                await asyncio.wait_for(self._grown.wait(), left)
            except TimeoutError:
                break
        return self._last_seq

    # -- reads ----------------------------------------------------------------------------------

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            if self._reader is None:
                raise StorageError("storage is closed")
            with self._read_lock:
                try:
                    return fn(self._reader)
                except sqlite3.Error as exc:
                    raise StorageError(f"the database read failed: {exc}") from None

        return await asyncio.to_thread(run)

    async def load_lists(self) -> list[LoadedList]:
        def run(conn: sqlite3.Connection) -> list[LoadedList]:
            out = []
            rows = conn.execute(
                "SELECT id, issuer, bits, size, ttl, formats, final_invalid, decoys, auto,"
                " created_at, perm_key, counter, checkpoint_seq FROM lists ORDER BY created_at, id"
            ).fetchall()
            for row in rows:
                record = ListRecord(
                    id=row[0],
                    issuer=row[1],
                    bits=row[2],
                    size=row[3],
                    ttl=row[4],
                    formats=tuple(json.loads(row[5])),
                    final_invalid=bool(row[6]),
                    decoys=row[7],
                    auto=bool(row[8]),
                    created_at=row[9],
                    perm_key=row[10],
                )
                pages = dict(
                    conn.execute(
                        "SELECT page, data FROM pages WHERE list_id = ?", (record.id,)
                    ).fetchall()
                )
                changes = [
                    Change(*c)
                    for c in conn.execute(
                        "SELECT seq, list_id, indices, old, new, at, actor FROM changes"
                        " WHERE list_id = ? AND seq > ? ORDER BY seq",
                        (record.id, row[12]),
                    )
                ]
                out.append(LoadedList(record, row[11], row[12], pages, changes))
            return out

        return await self._read(run)

    async def load_tokens(self) -> list[StoredToken]:
        return await self._read(
            lambda conn: [
                StoredToken(*r)
                for r in conn.execute("SELECT list_id, fmt, body, iat, exp, seq FROM tokens")
            ]
        )

    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        def run(conn: sqlite3.Connection) -> ApiKeyRecord | None:
            row = conn.execute(
                "SELECT key_hash, issuer, scope, label, created_at FROM api_keys"
                " WHERE key_hash = ?",
                (key_hash,),
            ).fetchone()
            return ApiKeyRecord(*row) if row else None

        return await self._read(run)

    async def token_at(self, list_id: str, fmt: str, at: float) -> StoredToken | None:
        def run(conn: sqlite3.Connection) -> StoredToken | None:
            row = conn.execute(
                "SELECT list_id, fmt, body, iat, exp FROM token_history"
                " WHERE list_id = ? AND fmt = ? AND iat <= ? AND exp > ?"
                " ORDER BY iat DESC LIMIT 1",
                (list_id, fmt, at, at),
            ).fetchone()
            return StoredToken(*row) if row else None

        return await self._read(run)

    async def changes(self, list_id: str, after_seq: int, limit: int) -> list[Change]:
        return await self._read(
            lambda conn: [
                Change(*c)
                for c in conn.execute(
                    "SELECT seq, list_id, indices, old, new, at, actor FROM changes"
                    " WHERE list_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                    (list_id, after_seq, limit),
                )
            ]
        )

    async def changes_after(self, after_seq: int, limit: int) -> list[Change]:
        return await self._read(
            lambda conn: [
                Change(*c)
                for c in conn.execute(
                    "SELECT seq, list_id, indices, old, new, at, actor FROM changes"
                    " WHERE seq > ? ORDER BY seq LIMIT ?",
                    (after_seq, limit),
                )
            ]
        )

    # -- several instances: with one process there is nobody to follow -------------------------

    async def load_list(self, list_id: str) -> LoadedList | None:
        return next((x for x in await self.load_lists() if x.record.id == list_id), None)

    async def list_ids(self) -> list[str]:
        return await self._read(lambda conn: [r[0] for r in conn.execute("SELECT id FROM lists")])

    async def tokens_after(self, version: int) -> tuple[int, list[StoredToken]]:
        return version, []

    async def lead(self) -> bool:
        return True

    async def wait_event(self, within: float) -> set[str]:
        await asyncio.sleep(within)
        return set()

    async def request_publish(self, list_id: str) -> None:
        return None

    def health(self) -> str | None:
        return None if self._thread is not None else "storage is closed"
