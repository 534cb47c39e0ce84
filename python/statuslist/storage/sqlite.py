"""The embedded SQLite storage: one file in the data directory, WAL, ``synchronous=FULL``.

Writes go through one writer thread. It takes every write waiting in its queue (up to
``max_group``), runs each inside its own savepoint of one transaction, and commits once: a burst of
concurrent requests shares one fsync (group commit). A write that raises is rolled back to its
savepoint alone; a commit that fails fails every write of the group and runs their undos. Reads use
a second connection (WAL lets it read while the writer writes).
"""

from __future__ import annotations

import asyncio
import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from statuslist.storage import (
    ApiKeyRecord,
    Change,
    ListRecord,
    LoadedList,
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


class _Tx:
    """The :class:`~statuslist.storage.Tx` of one group transaction."""

    __slots__ = ("_conn", "undos")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.undos: list[Callable[[], None]] = []

    def insert_list(self, r: ListRecord) -> None:
        self._conn.execute(
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

    def append_change(
        self, list_id: str, indices: bytes, old: bytes, new: bytes, at: float, actor: str
    ) -> int:
        cur = self._conn.execute(
            "INSERT INTO changes (list_id, indices, old, new, at, actor) VALUES (?,?,?,?,?,?)",
            (list_id, indices, old, new, at, actor),
        )
        return int(cur.lastrowid or 0)

    def set_counter(self, list_id: str, counter: int) -> None:
        self._conn.execute("UPDATE lists SET counter = ? WHERE id = ?", (counter, list_id))

    def checkpoint(self, list_id: str, pages: Mapping[int, bytes], seq: int) -> None:
        self._conn.executemany(
            "INSERT OR REPLACE INTO pages (list_id, page, data) VALUES (?,?,?)",
            [(list_id, n, data) for n, data in pages.items()],
        )
        self._conn.execute("UPDATE lists SET checkpoint_seq = ? WHERE id = ?", (seq, list_id))

    def save_token(self, t: StoredToken, archive: bool) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO tokens (list_id, fmt, body, iat, exp, seq)"
            " VALUES (?,?,?,?,?,?)",
            (t.list_id, t.fmt, t.body, t.iat, t.exp, t.seq),
        )
        if archive:
            self._conn.execute(
                "INSERT OR REPLACE INTO token_history (list_id, fmt, iat, exp, body)"
                " VALUES (?,?,?,?,?)",
                (t.list_id, t.fmt, t.iat, t.exp, t.body),
            )

    def prune_history(self, before: float) -> None:
        self._conn.execute("DELETE FROM token_history WHERE exp < ?", (before,))

    def insert_api_key(self, r: ApiKeyRecord) -> None:
        self._conn.execute(
            "INSERT INTO api_keys (key_hash, issuer, scope, label, created_at) VALUES (?,?,?,?,?)",
            (r.key_hash, r.issuer, r.scope, r.label, r.created_at),
        )

    def on_rollback(self, undo: Callable[[], None]) -> None:
        self.undos.append(undo)

    def undo_from(self, start: int) -> None:
        for undo in reversed(self.undos[start:]):
            undo()
        del self.undos[start:]


_Item = tuple[str, Callable[..., Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]
_STOP = ("stop", None, None, None)


def _settle(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.done():  # the awaiting request went away; the write itself stands
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


class SQLiteStorage:
    """:class:`~statuslist.storage.Storage` on one SQLite file."""

    def __init__(self, path: Path, *, max_group: int = 4096) -> None:
        self.path = path
        self._max_group = max_group
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.commits = 0  # fsyncs so far; group commit shows as commits < writes
        self.writes = 0

    async def open(self) -> None:
        def setup() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
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

        await asyncio.to_thread(setup)
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

    async def transact(self, fn: Callable[[Any], T]) -> T:
        return await self._submit("tx", fn)

    async def quiescent(self, fn: Callable[[], T]) -> T:
        return await self._submit("quiet", fn)

    async def _submit(self, kind: str, fn: Callable[..., T]) -> T:
        if self._thread is None:
            raise StorageError("storage is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((kind, fn, fut, loop))
        return await fut

    # -- the writer thread --------------------------------------------------------------------

    def _run(self) -> None:
        pending: _Item | None = None
        while True:
            item = pending if pending is not None else self._queue.get()
            pending = None
            if item[0] == "stop":
                return
            if item[0] == "quiet":
                self._call(item)
                continue
            group = [item]
            while len(group) < self._max_group:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt[0] != "tx":
                    pending = nxt
                    break
                group.append(nxt)
            self._commit(group)

    @staticmethod
    def _call(item: _Item) -> None:
        _, fn, fut, loop = item
        try:
            result, exc = fn(), None
        except BaseException as e:  # handed to the awaiting coroutine
            result, exc = None, e
        loop.call_soon_threadsafe(_settle, fut, result, exc)

    def _commit(self, group: list[_Item]) -> None:
        conn = self._writer
        if conn is None:  # closed under us: fail the group rather than the thread
            failure = StorageError("storage is closed")
            for _, _, fut, loop in group:
                loop.call_soon_threadsafe(_settle, fut, None, failure)
            return
        tx = _Tx(conn)
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for _, fn, _, _ in group:
                mark = len(tx.undos)
                conn.execute("SAVEPOINT w")
                try:
                    outcomes.append((fn(tx), None))
                    conn.execute("RELEASE w")
                except Exception as exc:
                    tx.undo_from(mark)
                    conn.execute("ROLLBACK TO w")
                    conn.execute("RELEASE w")
                    outcomes.append((None, exc))
            conn.execute("COMMIT")
        except sqlite3.Error as db_error:
            tx.undo_from(0)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            failure = StorageError(f"the write did not commit: {db_error}")
            outcomes = [(None, failure)] * len(group)
        self.commits += 1
        self.writes += len(group)
        for (_, _, fut, loop), (result, error) in zip(group, outcomes, strict=True):
            loop.call_soon_threadsafe(_settle, fut, result, error)

    # -- reads ----------------------------------------------------------------------------------

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            if self._reader is None:
                raise StorageError("storage is closed")
            with self._read_lock:
                return fn(self._reader)

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
