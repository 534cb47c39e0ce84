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
import contextlib
import fcntl
import functools
import json
import logging
import os
import queue
import secrets
import sqlite3
import struct
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from statuslist.storage import (
    ApiKeyRecord,
    Change,
    Checkpoint,
    DiskFullError,
    ListRecord,
    LoadedList,
    NewChange,
    StorageError,
    StoredToken,
)

__all__ = ["BackupReport", "SQLiteStorage", "backup"]

T = TypeVar("T")

log = logging.getLogger("statuslist.storage")

#: Seconds between rewrites of the high-water mark (:attr:`SQLiteStorage.mark_path`).
MARK_INTERVAL = 1.0

SCHEMA_VERSION = 2
#: Every stored page, log row, token and list record carries a CRC-32 of its contents (SQLite has
#: no page checksums): :meth:`SQLiteStorage.load_lists` refuses a list whose rows fail it instead
#: of serving damaged bytes as statuses. ``meta`` holds the database's random id (see the mark).
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
    checkpoint_seq INTEGER NOT NULL DEFAULT 0,
    crc INTEGER
);
CREATE INDEX IF NOT EXISTS lists_issuer ON lists(issuer);
CREATE TABLE IF NOT EXISTS pages (
    list_id TEXT NOT NULL,
    page INTEGER NOT NULL,
    data BLOB NOT NULL,
    crc INTEGER,
    PRIMARY KEY (list_id, page)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id TEXT NOT NULL,
    indices BLOB NOT NULL,
    old BLOB NOT NULL,
    new BLOB NOT NULL,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    crc INTEGER
);
CREATE INDEX IF NOT EXISTS changes_list ON changes(list_id, seq);
CREATE TABLE IF NOT EXISTS tokens (
    list_id TEXT NOT NULL,
    fmt TEXT NOT NULL,
    body BLOB NOT NULL,
    iat INTEGER NOT NULL,
    exp INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    crc INTEGER,
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
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

#: Version 1 → 2: checksum columns, filled in for the rows already there.
_MIGRATE_1 = """
ALTER TABLE lists ADD COLUMN crc INTEGER;
ALTER TABLE pages ADD COLUMN crc INTEGER;
ALTER TABLE changes ADD COLUMN crc INTEGER;
ALTER TABLE tokens ADD COLUMN crc INTEGER;
UPDATE lists SET crc = statuslist_list_crc(id, issuer, bits, size, ttl, formats, final_invalid,
    decoys, auto, created_at, perm_key);
UPDATE pages SET crc = statuslist_page_crc(list_id, page, data);
UPDATE changes SET crc = statuslist_change_crc(list_id, indices, old, new, at, actor);
UPDATE tokens SET crc = statuslist_token_crc(list_id, fmt, body, iat, exp, seq);
"""

# -- checksums: CRC-32 over a row's fields, each length-prefixed -------------------------------


def _crc(*fields: object) -> int:
    acc = 0
    for f in fields:
        if isinstance(f, bytes):
            raw = f
        elif isinstance(f, str):
            raw = f.encode("utf-8", "surrogatepass")
        elif isinstance(f, float):
            raw = struct.pack("<d", f)
        else:
            raw = int(f).to_bytes(8, "little", signed=True)  # type: ignore[call-overload]
        acc = zlib.crc32(raw, zlib.crc32(len(raw).to_bytes(8, "little"), acc))
    return acc


def _list_crc(r: ListRecord) -> int:
    return _crc(
        r.id, r.issuer, r.bits, r.size, r.ttl, json.dumps(list(r.formats)), int(r.final_invalid),
        r.decoys, int(r.auto), float(r.created_at), r.perm_key,
    )  # fmt: skip


def _page_crc(list_id: str, page: int, data: bytes) -> int:
    return _crc(list_id, page, data)


_U64 = struct.Struct("<Q").pack
_F64 = struct.Struct("<d").pack
_EIGHT = _U64(8)


def _change_crc(list_id: str, indices: bytes, old: bytes, new: bytes, at: float, actor: str) -> int:
    """:func:`_crc` of a log row, with one ``crc32`` over the fields laid end to end (the CRC
    of a concatenation is the chained CRC of its parts): the writer runs it for every row."""
    if type(indices) is not bytes or type(old) is not bytes or type(new) is not bytes:
        return _crc(list_id, indices, old, new, float(at), actor)
    lid = list_id.encode("utf-8", "surrogatepass")
    act = actor.encode("utf-8", "surrogatepass")
    return zlib.crc32(
        b"".join(
            (
                _U64(len(lid)), lid, _U64(len(indices)), indices, _U64(len(old)), old,
                _U64(len(new)), new, _EIGHT, _F64(float(at)), _U64(len(act)), act,
            )
        )
    )  # fmt: skip


def _token_crc(list_id: str, fmt: str, body: bytes, iat: int, exp: int, seq: int) -> int:
    return _crc(list_id, fmt, body, iat, exp, seq)


def _describe(exc: sqlite3.Error) -> str:
    """SQLite's message, with what it means for an operator."""
    base = "_".join(str(getattr(exc, "sqlite_errorname", "")).split("_")[:2])
    hint = {
        "SQLITE_FULL": "the disk is full",
        "SQLITE_READONLY": "the file or its directory is read-only",
        "SQLITE_NOTADB": "the file is not a SQLite database",
        "SQLITE_CORRUPT": "the database file is damaged; restore it from a backup",
        "SQLITE_CANTOPEN": "the file cannot be opened (its directory is missing or not writable)",
        "SQLITE_IOERR": "an I/O error",
        "SQLITE_PERM": "permission denied",
    }.get(base)
    return f"{exc} ({hint})" if hint and hint not in str(exc) else str(exc)


def _storage_error(prefix: str, exc: sqlite3.Error) -> StorageError:
    cls = DiskFullError if "FULL" in getattr(exc, "sqlite_errorname", "") else StorageError
    return cls(f"{prefix}: {_describe(exc)}")


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=30.0, cached_statements=512
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


# -- the write operations (run on the writer thread, inside a savepoint) ------------------------


def _insert_list(conn: sqlite3.Connection, r: ListRecord, decoys: NewChange | None) -> int:
    conn.execute(
        "INSERT INTO lists (id, issuer, bits, size, ttl, formats, final_invalid, decoys, auto,"
        " created_at, perm_key, crc) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
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
            _list_crc(r),
        ),
    )
    return _append(conn, [decoys])[0] if decoys is not None else 0


#: Rows per ``INSERT`` of the change log. A batch is one statement of exactly its rows up to
#: this many (built once per size; the writer's statement cache holds them), a longer one a few
#: such: a batch costs the writer thread a few trips through the GIL, not one per row.
_ROWS_PER_INSERT = 256


@functools.cache
def _insert_changes(n: int) -> str:
    """The ``INSERT`` of ``n`` log rows (only placeholders are joined in: the values are bound)."""
    rows = ",".join(["(?,?,?,?,?,?,?)"] * n)
    return f"INSERT INTO changes (list_id, indices, old, new, at, actor, crc) VALUES {rows}"  # noqa: S608


def _append(conn: sqlite3.Connection, changes: Sequence[NewChange]) -> list[int]:
    """Logs ``changes`` in order; their sequence numbers. A multi-row ``INSERT`` into the
    ``AUTOINCREMENT`` table gives its rows consecutive numbers in the order of its ``VALUES``
    (each new row gets one more than the largest ever used), so the last one gives them all."""
    seqs: list[int] = []
    done = 0
    while done < len(changes):
        n = min(_ROWS_PER_INSERT, len(changes) - done)
        params: list[object] = []
        for c in changes[done : done + n]:
            crc = _change_crc(c.list_id, c.indices, c.old, c.new, c.at, c.actor)
            params += (c.list_id, c.indices, c.old, c.new, c.at, c.actor, crc)
        last = int(conn.execute(_insert_changes(n), params).lastrowid or 0)
        seqs.extend(range(last - n + 1, last + 1))
        done += n
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
            "INSERT OR REPLACE INTO pages (list_id, page, data, crc) VALUES (?,?,?,?)",
            [
                (item.list_id, n, data, _page_crc(item.list_id, n, data))
                for n, data in item.pages.items()
            ],
        )
        conn.execute(
            "UPDATE lists SET checkpoint_seq = MAX(checkpoint_seq, ?) WHERE id = ?",
            (item.seq, item.list_id),
        )


def _save_tokens(
    conn: sqlite3.Connection, tokens: Sequence[StoredToken], archive_until: float | None
) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO tokens (list_id, fmt, body, iat, exp, seq, crc)"
        " VALUES (?,?,?,?,?,?,?)",
        [
            (t.list_id, t.fmt, t.body, t.iat, t.exp, t.seq, _token_crc(*_token_fields(t)))
            for t in tokens
        ],
    )
    if archive_until is not None:
        conn.executemany(
            "INSERT OR REPLACE INTO token_history (list_id, fmt, iat, exp, body)"
            " VALUES (?,?,?,?,?)",
            [(t.list_id, t.fmt, t.iat, t.exp, t.body) for t in tokens],
        )
        conn.execute("DELETE FROM token_history WHERE exp < ?", (archive_until,))


def _token_fields(t: StoredToken) -> tuple[str, str, bytes, int, int, int]:
    return t.list_id, t.fmt, t.body, t.iat, t.exp, t.seq


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


def _load_one(conn: sqlite3.Connection, row: Sequence[Any], *, quiet: bool = False) -> LoadedList:
    record = ListRecord(
        id=row[0],
        issuer=row[1],
        bits=row[2],
        size=row[3],
        ttl=row[4],
        formats=tuple(json.loads(row[5])) if _is_json_list(row[5]) else (),
        final_invalid=bool(row[6]),
        decoys=row[7],
        auto=bool(row[8]),
        created_at=row[9],
        perm_key=row[10] if isinstance(row[10], bytes) else b"",
    )

    def damaged(why: str) -> LoadedList:
        if not quiet:
            log.error("list %s is damaged and will not be served: %s", record.id, why)
        return LoadedList(record, int(row[11]), int(row[12]), {}, [], damage=why)

    try:
        if row[13] != _list_crc(record):
            return damaged("its metadata fails its checksum")
        pages: dict[int, bytes] = {}
        for page, data, crc in conn.execute(
            "SELECT page, CAST(data AS BLOB), crc FROM pages WHERE list_id = ?", (record.id,)
        ):
            if not isinstance(data, bytes) or crc != _page_crc(record.id, page, data):
                return damaged(f"bitmap page {page} fails its checksum")
            pages[page] = data
        changes = []
        for c in conn.execute(
            "SELECT seq, list_id, CAST(indices AS BLOB), CAST(old AS BLOB), CAST(new AS BLOB),"
            " at, actor, crc FROM changes WHERE list_id = ? AND seq > ? ORDER BY seq",
            (record.id, row[12]),
        ):
            change = Change(*c[:7])
            fields = (change.indices, change.old, change.new)
            if not all(isinstance(f, bytes) for f in fields) or c[7] != _change_crc(
                change.list_id, change.indices, change.old, change.new, change.at, change.actor
            ):
                return damaged(f"change log row {change.seq} fails its checksum")
            changes.append(change)
    except (sqlite3.DatabaseError, TypeError, ValueError) as exc:
        return damaged(f"its rows cannot be read: {exc}")
    return LoadedList(record, int(row[11]), int(row[12]), pages, changes)


def _is_json_list(text: object) -> bool:
    try:
        return isinstance(text, str) and isinstance(json.loads(text), list)
    except ValueError:
        return False


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
        self._db_id: str | None = None
        self._durable = 0  # the last committed sequence (writer thread)
        self._marked = -1  # the sequence the mark file holds
        self._mark_at = 0.0
        self._failing: str | None = None  # why the last commit failed, until one succeeds

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

    @property
    def mark_path(self) -> Path:
        """The high-water mark beside the database (servers only): the database's id and the
        last change sequence this server had committed, rewritten at most once a second. A
        start whose database is behind it (its ``-wal`` file lost, an older copy put in its
        place) is refused: it could hand out indices again and forget revocations."""
        return self.path.with_name(self.path.name + ".mark")

    def _read_mark(self) -> tuple[str, int] | None:
        try:
            data = json.loads(self.mark_path.read_text(encoding="utf-8"))
            return str(data["db"]), int(data["seq"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a torn mark proves nothing; the next commit rewrites it

    def _write_mark(self, seq: int) -> None:
        if self._db_id is None:
            return
        tmp = self.mark_path.with_name(self.mark_path.name + ".tmp")
        try:
            tmp.write_text(json.dumps({"db": self._db_id, "seq": seq}), encoding="utf-8")
            os.replace(tmp, self.mark_path)
            self._marked = seq
        except OSError:
            pass  # the mark only strengthens a check; a full disk must not fail a write
        self._mark_at = time.monotonic()

    def _setup(self) -> int:
        """Opens (creating or migrating) the database; returns its last change sequence."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create the data directory {self.path.parent}: {exc.strerror}"
            ) from None
        if self.path.exists() and not self.path.is_file():
            raise StorageError(f"cannot open {self.path}: it is not a file")
        if self._exclusive:
            self._take_lock()
        conn = _connect(self.path)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"{self.path} has schema version {version}; this statuslist knows "
                    f"{SCHEMA_VERSION}: upgrade statuslist"
                )
            if version < SCHEMA_VERSION:
                for name, fn, n in (
                    ("statuslist_list_crc", lambda *a: _crc(*a[:9], float(a[9]), a[10]), 11),
                    ("statuslist_page_crc", _page_crc, 3),
                    ("statuslist_change_crc", _change_crc, 6),
                    ("statuslist_token_crc", _token_crc, 6),
                ):
                    conn.create_function(name, n, fn, deterministic=True)
                migrate = _MIGRATE_1 if version == 1 else ""
                conn.executescript(
                    f"BEGIN; {SCHEMA} {migrate} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
                )
            row = conn.execute("SELECT value FROM meta WHERE key = 'id'").fetchone()
            if row is None:
                new_id = secrets.token_hex(16)
                conn.execute("INSERT INTO meta (key, value) VALUES ('id', ?)", (new_id,))
                row = conn.execute("SELECT value FROM meta WHERE key = 'id'").fetchone()
                # The schema and the id into the main file now: a lost -wal cannot take them.
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db_id = str(row[0])
            last = int(
                conn.execute(
                    "SELECT MAX(COALESCE((SELECT MAX(seq) FROM changes), 0),"
                    " COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0))"
                ).fetchone()[0]
            )
            if self._exclusive:
                mark = self._read_mark()
                if mark is not None and mark[0] == self._db_id and mark[1] > last:
                    raise StorageError(
                        f"{self.path} is behind what this server had committed (its change log "
                        f"ends at {last}, {self.mark_path.name} says {mark[1]}): its -wal file "
                        "was probably lost, or an older copy replaced it. Serving it could hand "
                        "out indices twice and forget revocations. Restore the database together "
                        f"with its -wal file; to serve this older state on purpose, delete "
                        f"{self.mark_path}"
                    )
            self._writer = conn
            self._reader = _connect(self.path)
            # Damaged text reads as text that fails its checksum, not as a failed query.
            self._reader.text_factory = lambda b: b.decode("utf-8", "replace")
            return last
        except BaseException:
            conn.close()
            raise

    async def open(self) -> None:
        try:
            self._last_seq = await asyncio.to_thread(self._setup)
        except sqlite3.Error as exc:
            self._drop_lock()
            raise _storage_error(f"cannot open {self.path}", exc) from None
        except BaseException:
            self._drop_lock()
            raise
        self._durable = self._last_seq
        if self._exclusive:
            self._write_mark(self._last_seq)
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
        if self._exclusive and self._durable != self._marked:
            self._write_mark(self._durable)
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
            if self._exclusive and self._durable != self._marked:
                try:  # the mark lags the last commit: catch up once the writes pause
                    item = self._queue.get(timeout=MARK_INTERVAL)
                except queue.Empty:
                    self._write_mark(self._durable)
                    continue
            else:
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
        elif (quick := self._commit_appends(conn, group)) is not None:
            outcomes = quick
            self._committed(len(group))
        else:
            try:
                conn.execute("BEGIN IMMEDIATE")
                if len(group) == 1:  # alone: its transaction is its savepoint
                    outcomes.append(self._run_alone(conn, group[0]))
                else:
                    for item in group:
                        outcomes.append(self._run_saved(conn, item))
                if conn.in_transaction:
                    conn.execute("COMMIT")
                self._committed(len(group))
            except sqlite3.Error as db_error:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                failure = _storage_error("the write did not commit", db_error)
                self._failing = str(failure)
                outcomes = [(None, failure)] * len(group)
            if any(isinstance(e, DiskFullError) for _, e in outcomes):
                self._failing = next(str(e) for _, e in outcomes if isinstance(e, DiskFullError))
        last = max(
            (
                max(r) if isinstance(r, list) else r
                for (op, _, _, _), (r, e) in zip(group, outcomes, strict=True)
                if e is None and op in (_append, _insert_list) and r
            ),
            default=0,
        )
        self._durable = max(self._durable, last)
        # One wake-up of the loop per commit: every future settled, the sequence advanced.
        settle = [
            (fut, result, error)
            for (_, _, fut, _), (result, error) in zip(group, outcomes, strict=True)
            if fut is not None
        ]
        loops = {loop for _, _, fut, loop in group if fut is not None}
        if self._loop is not None and loops <= {self._loop}:
            self._loop.call_soon_threadsafe(self._settled, settle, last)
        else:  # pragma: no cover - futures of another loop (one-off commands): each its own
            for (_, _, fut, loop), (result, error) in zip(group, outcomes, strict=True):
                if fut is not None:
                    loop.call_soon_threadsafe(_settle, fut, result, error)
            if last and self._loop is not None:
                self._loop.call_soon_threadsafe(self._advance, last)
        if (
            self._exclusive
            and self._durable != self._marked
            and time.monotonic() - self._mark_at >= MARK_INTERVAL
        ):
            self._write_mark(self._durable)

    def _committed(self, writes: int) -> None:
        self.commits += 1
        self.writes += writes
        self._failing = None

    @staticmethod
    def _commit_appends(
        conn: sqlite3.Connection, group: list[_Item]
    ) -> list[tuple[Any, BaseException | None]] | None:
        """A group of appends only, of at most ``_ROWS_PER_INSERT`` rows in all, as one
        ``INSERT`` in autocommit mode (its own transaction): the writer thread leaves the GIL
        and takes it back once per commit, where ``BEGIN``, each savepoint and ``COMMIT`` would
        take a trip each, every one a wait while the event loop holds the GIL. None when the
        group is not such, or when the statement failed: nothing of it committed, and the group
        then runs the general way, which fails only the writes that fail."""
        rows: list[NewChange] = []
        for op, args, _, _ in group:
            if op is not _append:
                return None
            rows += args[0]
        if not rows or len(rows) > _ROWS_PER_INSERT:
            return None
        try:
            seqs = _append(conn, rows)
        except Exception:  # nothing committed; the general way tells which write it was
            return None
        outcomes: list[tuple[Any, BaseException | None]] = []
        at = 0
        for _, args, _, _ in group:
            n = len(args[0])
            outcomes.append((seqs[at : at + n], None))
            at += n
        return outcomes

    @staticmethod
    def _run_alone(conn: sqlite3.Connection, item: _Item) -> tuple[Any, BaseException | None]:
        """One operation as the whole transaction: a failure rolls it back (and the commit that
        follows has nothing to do)."""
        op, args, _, _ = item
        try:
            if op is None:  # pragma: no cover - the stop marker never joins a group
                raise StorageError("internal: no operation")
            return op(conn, *args), None
        except Exception as exc:
            conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                exc = _storage_error("the write did not commit", exc)
            return None, exc

    @staticmethod
    def _run_saved(conn: sqlite3.Connection, item: _Item) -> tuple[Any, BaseException | None]:
        """One operation of a group, in a savepoint of its own: a failure fails it alone."""
        op, args, _, _ = item
        conn.execute("SAVEPOINT w")
        try:
            if op is None:  # pragma: no cover - the stop marker never joins a group
                raise StorageError("internal: no operation")
            result = op(conn, *args)
            conn.execute("RELEASE w")
            return result, None
        except Exception as exc:
            conn.execute("ROLLBACK TO w")
            conn.execute("RELEASE w")
            if isinstance(exc, sqlite3.Error):
                exc = _storage_error("the write did not commit", exc)
            return None, exc

    def _settled(
        self, settle: list[tuple[asyncio.Future[Any], Any, BaseException | None]], last: int
    ) -> None:
        for fut, result, error in settle:
            _settle(fut, result, error)
        if last:
            self._advance(last)

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
                    raise _storage_error("the database read failed", exc) from None

        return await asyncio.to_thread(run)

    async def load_lists(self) -> list[LoadedList]:
        """Every list with its pages and log tail, each row checked against its checksum: a
        list whose rows fail (or cannot be read) comes back with ``damage`` saying why, and no
        pages or changes."""

        def run(conn: sqlite3.Connection) -> list[LoadedList]:
            rows = conn.execute(
                "SELECT id, issuer, bits, size, ttl, formats, final_invalid, decoys, auto,"
                " created_at, perm_key, counter, checkpoint_seq, crc FROM lists"
                " ORDER BY created_at, id"
            ).fetchall()
            return [_load_one(conn, row) for row in rows]

        return await self._read(run)

    async def load_tokens(self) -> list[StoredToken]:
        """The last tokens; one that fails its checksum is left out (and logged): the list is
        then published afresh instead of served damaged."""

        def run(conn: sqlite3.Connection) -> list[StoredToken]:
            out = []
            for row in conn.execute(
                "SELECT list_id, fmt, CAST(body AS BLOB), iat, exp, seq, crc FROM tokens"
            ):
                token = StoredToken(*row[:6])
                if row[6] != _token_crc(*_token_fields(token)):
                    log.error(
                        "the stored %s token of list %s fails its checksum; it is not served, "
                        "the list is signed afresh",
                        token.fmt,
                        token.list_id,
                    )
                    continue
                out.append(token)
            return out

        return await self._read(run)

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
        if self._thread is None:
            return "storage is closed"
        return self._failing


@dataclass(frozen=True, slots=True)
class BackupReport:
    """What :func:`backup` copied and checked."""

    lists: int
    pages: int
    changes: int
    damaged: tuple[str, ...]  # "list id: why" for each list of the copy failing its checks
    bytes: int


def backup(
    source: Path,
    dest: Path,
    progress: Callable[[int, int], None] | None = None,
    *,
    step_pages: int = 4096,
) -> BackupReport:
    """A consistent copy of the database at ``source`` into the new file ``dest``, taken with
    SQLite's online backup API while a server may be writing (the copy is one committed state;
    it includes what is still in the ``-wal`` file). ``progress(done, total)`` is called per
    step of ``step_pages`` database pages. The copy is then checked (SQLite's ``quick_check``
    and every stored checksum) before it is renamed into place."""
    if not source.is_file():
        raise StorageError(f"no database at {source}")
    if dest.exists():
        raise StorageError(f"{dest} exists; back up into a new path")
    tmp = dest.with_name(dest.name + ".partial")
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30.0)
        try:
            out = sqlite3.connect(tmp)
            try:
                src.backup(
                    out,
                    pages=step_pages,
                    progress=(lambda _s, left, total: progress(total - left, total))
                    if progress is not None
                    else None,
                )
                out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                problem = out.execute("PRAGMA quick_check").fetchone()[0]
                if problem != "ok":
                    raise StorageError(f"the copy fails SQLite's check: {problem}")
                out.text_factory = lambda b: b.decode("utf-8", "replace")
                report = _check_copy(out)
            finally:
                out.close()
        finally:
            src.close()
        os.chmod(tmp, 0o600)  # it holds API key hashes and the permutation keys
        os.replace(tmp, dest)
    except sqlite3.Error as exc:
        tmp.unlink(missing_ok=True)
        raise _storage_error(f"cannot back up {source} to {dest}", exc) from None
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot back up {source} to {dest}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return BackupReport(report[0], report[1], report[2], report[3], dest.stat().st_size)


def _check_copy(conn: sqlite3.Connection) -> tuple[int, int, int, tuple[str, ...]]:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        raise StorageError(
            f"the database has schema version {version}, not {SCHEMA_VERSION}: start the "
            "server (or run statuslist db migrate) once, then back it up"
        )
    rows = conn.execute(
        "SELECT id, issuer, bits, size, ttl, formats, final_invalid, decoys, auto,"
        " created_at, perm_key, counter, 0, crc FROM lists ORDER BY created_at, id"
    ).fetchall()
    pages = changes = 0
    damaged = []
    for row in rows:
        item = _load_one(conn, row, quiet=True)
        if item.damage is not None:
            damaged.append(f"{item.record.id}: {item.damage}")
        pages += len(item.pages)
        changes += len(item.changes)
    return len(rows), pages, changes, tuple(damaged)
