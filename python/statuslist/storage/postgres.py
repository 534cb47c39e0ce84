"""PostgreSQL storage: several instances share one database (asyncpg, one pool per instance).

- **Appends** go through one writer task per instance that takes every append waiting and
  commits them in one transaction (group commit, as in SQLite). Each transaction first takes a
  global advisory transaction lock: log sequence numbers are then handed out in commit order
  across instances, so a follower reading the log past sequence N never misses a change that
  commits later with a smaller number. Under the lock it checks each append's ``expect`` against
  ``lists.last_seq`` (optimistic concurrency: a list written by another instance since the caller
  last looked gets :class:`StaleWriteError` and nothing is written for that append).
- **Other writes** (lists, counters, tokens, checkpoints, API keys) are transactions of their own.
- **Followers** hear of other instances' writes through ``LISTEN``/``NOTIFY`` on a dedicated
  connection that reconnects by itself; a reconnect reports every kind of news, so a follower
  re-reads what it may have missed.
- **Leadership**: a session advisory lock held on another dedicated connection; when the leader
  dies, PostgreSQL drops its session and the lock, and the next instance to ask takes it.
- **Migrations**: versioned, applied on open inside a transaction holding an advisory lock, so
  instances starting together apply each version once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

import asyncpg

from statuslist.storage import (
    ApiKeyRecord,
    Change,
    Checkpoint,
    ListRecord,
    LoadedList,
    NewChange,
    StaleWriteError,
    StorageError,
    StoredToken,
)

__all__ = ["MIGRATIONS", "PostgresStorage", "migrate"]

log = logging.getLogger("statuslist.storage.postgres")
T = TypeVar("T")

#: Advisory lock keys (arbitrary 64-bit constants of this application).
_MIGRATE_LOCK = 0x5354_4C53_0001
_APPEND_LOCK = 0x5354_4C53_0002
_LEAD_LOCK = 0x5354_4C53_0003
CHANNELS = {
    "statuslist_changes": "changes",
    "statuslist_lists": "lists",
    "statuslist_tokens": "tokens",
    "statuslist_publish": "publish",
}
_MAX_GROUP = 1024

#: (version, SQL): applied in order, each once, never edited once released.
MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
CREATE TABLE lists (
    id text PRIMARY KEY,
    issuer text NOT NULL,
    bits integer NOT NULL,
    size bigint NOT NULL,
    ttl integer NOT NULL,
    formats text NOT NULL,
    final_invalid boolean NOT NULL,
    decoys bigint NOT NULL,
    auto boolean NOT NULL,
    created_at double precision NOT NULL,
    perm_key bytea NOT NULL,
    counter bigint NOT NULL DEFAULT 0,
    checkpoint_seq bigint NOT NULL DEFAULT 0,
    last_seq bigint NOT NULL DEFAULT 0
);
CREATE INDEX lists_issuer ON lists (issuer);
CREATE TABLE pages (
    list_id text NOT NULL REFERENCES lists (id),
    page integer NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (list_id, page)
);
CREATE TABLE changes (
    seq bigserial PRIMARY KEY,
    list_id text NOT NULL REFERENCES lists (id),
    indices bytea NOT NULL,
    old bytea NOT NULL,
    new bytea NOT NULL,
    at double precision NOT NULL,
    actor text NOT NULL
);
CREATE INDEX changes_list ON changes (list_id, seq);
CREATE SEQUENCE token_version;
CREATE TABLE tokens (
    list_id text NOT NULL REFERENCES lists (id),
    fmt text NOT NULL,
    body bytea NOT NULL,
    iat bigint NOT NULL,
    exp bigint NOT NULL,
    seq bigint NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (list_id, fmt)
);
CREATE INDEX tokens_version ON tokens (version);
CREATE TABLE token_history (
    list_id text NOT NULL,
    fmt text NOT NULL,
    iat bigint NOT NULL,
    exp bigint NOT NULL,
    body bytea NOT NULL,
    PRIMARY KEY (list_id, fmt, iat)
);
CREATE TABLE api_keys (
    key_hash text PRIMARY KEY,
    issuer text NOT NULL,
    scope text NOT NULL,
    label text NOT NULL,
    created_at double precision NOT NULL
);
""",
    ),
]

MIGRATIONS.append(
    (
        2,
        # One round trip per group of appends: lock, check, insert, bump, notify in one call
        # (autocommit), so the global append lock is held for the statement and the commit only.
        """
CREATE FUNCTION statuslist_append(
    e_op integer[], e_list text[], e_seq bigint[],
    c_op integer[], c_list text[], c_indices bytea[], c_old bytea[], c_new bytea[],
    c_at double precision[], c_actor text[]
) RETURNS TABLE (op integer, seq bigint, list_id text) LANGUAGE plpgsql AS $fn$
DECLARE
    stale integer[];
    missing integer[];
    new_seqs bigint[];
    new_lists text[];
BEGIN
    PERFORM pg_advisory_xact_lock(APPEND_LOCK);
    SELECT coalesce(array_agg(DISTINCT c.op), '{}') INTO missing
        FROM unnest(c_op, c_list) AS c(op, list_id)
        WHERE NOT EXISTS (SELECT 1 FROM lists l WHERE l.id = c.list_id);
    SELECT coalesce(array_agg(DISTINCT e.op), '{}') INTO stale
        FROM unnest(e_op, e_list, e_seq) AS e(op, list_id, seq)
        JOIN lists l ON l.id = e.list_id
        WHERE l.last_seq <> e.seq;
    stale := array(SELECT unnest(stale) EXCEPT SELECT unnest(missing));
    RETURN QUERY SELECT m, -2::bigint, NULL::text FROM unnest(missing) AS m;
    RETURN QUERY SELECT e.op, -1::bigint, e.list_id
        FROM unnest(e_op, e_list, e_seq) AS e(op, list_id, seq)
        JOIN lists l ON l.id = e.list_id
        WHERE l.last_seq <> e.seq AND e.op = ANY (stale);
    WITH ins AS (
        INSERT INTO changes (list_id, indices, old, new, at, actor)
        SELECT c.list_id, c.indices, c.old, c.new, c.at, c.actor
        FROM unnest(c_op, c_list, c_indices, c_old, c_new, c_at, c_actor) WITH ORDINALITY
            AS c(op, list_id, indices, old, new, at, actor, ord)
        WHERE c.op <> ALL (stale) AND c.op <> ALL (missing)
        ORDER BY c.ord
        RETURNING changes.seq, changes.list_id
    )
    SELECT array_agg(ins.seq ORDER BY ins.seq), array_agg(ins.list_id ORDER BY ins.seq)
        INTO new_seqs, new_lists FROM ins;
    IF new_seqs IS NOT NULL THEN
        UPDATE lists SET last_seq = m.s
            FROM (SELECT u.list_id, max(u.seq) AS s FROM unnest(new_seqs, new_lists)
                  AS u(seq, list_id) GROUP BY u.list_id) AS m
            WHERE lists.id = m.list_id;
        PERFORM pg_notify('statuslist_changes', new_seqs[array_upper(new_seqs, 1)]::text);
        RETURN QUERY SELECT 0, u.seq, u.list_id FROM unnest(new_seqs, new_lists) AS u(seq, list_id);
    END IF;
END
$fn$;
""".replace("APPEND_LOCK", str(_APPEND_LOCK)),
    )
)

_LIST_COLUMNS = (
    "id, issuer, bits, size, ttl, formats, final_invalid, decoys, auto, created_at, perm_key,"
    " counter, checkpoint_seq"
)
_CHANGE_COLUMNS = "seq, list_id, indices, old, new, at, actor"

#: What a failing database raises (a broken connection, a timeout, a refused statement).
_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


async def migrate(conn: asyncpg.Connection) -> list[int]:
    """Applies the migrations this database lacks; the versions applied now."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATE_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        known = {v for v, _ in MIGRATIONS}
        if done - known:
            raise StorageError(
                f"the database has schema version {max(done)}; this statuslist knows up to "
                f"{max(known)}: upgrade statuslist"
            )
        applied = []
        for version, sql in MIGRATIONS:
            if version not in done:
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
                applied.append(version)
        return applied


def _record(row: Any) -> ListRecord:
    return ListRecord(
        id=row[0],
        issuer=row[1],
        bits=row[2],
        size=row[3],
        ttl=row[4],
        formats=tuple(json.loads(row[5])),
        final_invalid=row[6],
        decoys=row[7],
        auto=row[8],
        created_at=row[9],
        perm_key=bytes(row[10]),
    )


def _change(row: Any) -> Change:
    return Change(row[0], row[1], bytes(row[2]), bytes(row[3]), bytes(row[4]), row[5], row[6])


_Append = tuple[Sequence[NewChange], Mapping[str, int] | None, "asyncio.Future[list[int]]"]


class PostgresStorage:
    """:class:`~statuslist.storage.Storage` on a shared PostgreSQL database."""

    def __init__(self, url: str, *, pool_size: int = 10, statement_timeout: float = 5.0) -> None:
        self.url = url
        self._pool_size = pool_size
        self._timeout = statement_timeout
        self._pool: asyncpg.Pool | None = None
        self._queue: asyncio.Queue[_Append | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._lead_conn: asyncpg.Connection | None = None
        self._leading = False
        self._events: set[str] = set()
        self._event = asyncio.Event()
        self._last_seq = 0
        self._problem: str | None = None
        self.shared = True
        self.commits = 0
        self.writes = 0

    def _server_settings(self) -> dict[str, str]:
        return {
            "statement_timeout": str(int(self._timeout * 1000)),
            "idle_in_transaction_session_timeout": str(int(self._timeout * 4000)),
            "application_name": "statuslist",
        }

    async def _connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            self.url, timeout=self._timeout, server_settings=self._server_settings()
        )

    # -- life cycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            conn = await self._connect()
            try:
                applied = await migrate(conn)
                self._last_seq = int(
                    await conn.fetchval("SELECT COALESCE(MAX(seq), 0) FROM changes")
                )
            finally:
                await conn.close()
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=min(2, self._pool_size),
                max_size=self._pool_size,
                timeout=self._timeout,
                command_timeout=self._timeout * 2,
                server_settings=self._server_settings(),
                # Connections come back as they left (no session state is changed here), so the
                # round trip of asyncpg's default reset on every release is saved.
                reset=_no_reset,
            )
        except _DB_ERRORS as exc:
            raise StorageError(f"cannot open the PostgreSQL database: {_describe(exc)}") from None
        if applied:
            log.info("applied schema migrations %s", applied)
        self._writer = asyncio.create_task(self._write_loop(), name="statuslist-pg-writer")
        self._listener = asyncio.create_task(self._listen_loop(), name="statuslist-pg-listener")

    async def close(self) -> None:
        if self._writer is not None:
            await self._queue.put(None)
            with contextlib.suppress(Exception):
                await self._writer
            self._writer = None
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        if self._lead_conn is not None:
            with contextlib.suppress(*_DB_ERRORS):
                await self._lead_conn.close(timeout=2)
            self._lead_conn, self._leading = None, False
        if self._pool is not None:
            with contextlib.suppress(*_DB_ERRORS):
                await asyncio.wait_for(self._pool.close(), 5)
            self._pool = None

    def health(self) -> str | None:
        if self._pool is None:
            return "the database is not open"
        return self._problem

    # -- running statements -----------------------------------------------------------------

    async def _run(self, fn: Callable[[asyncpg.Connection], Coroutine[Any, Any, T]]) -> T:
        if self._pool is None:
            raise StorageError("storage is closed")
        try:
            async with self._pool.acquire() as conn:
                result = await fn(conn)
        except StaleWriteError:
            raise
        except asyncpg.UniqueViolationError as exc:
            raise StorageError(f"the write did not commit: {_describe(exc)}") from None
        except _DB_ERRORS as exc:
            self._problem = f"the database is unavailable: {_describe(exc)}"
            raise StorageError(f"the database is unavailable: {_describe(exc)}") from None
        self._problem = None
        return result

    def _start(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """Runs ``coro`` from now on (a write is submitted when called, not when awaited)."""
        return asyncio.ensure_future(coro)

    # -- appends: group commit ------------------------------------------------------------------

    def append(
        self, changes: Sequence[NewChange], expect: Mapping[str, int] | None = None
    ) -> Awaitable[list[int]]:
        fut: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        if self._writer is None:
            fut.set_exception(StorageError("storage is closed"))
        else:
            self._queue.put_nowait((changes, expect, fut))
        return fut

    async def _write_loop(self) -> None:
        stop = False
        while not stop:
            item = await self._queue.get()
            if item is None:
                break
            group = [item]
            while len(group) < _MAX_GROUP and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
            try:
                outcomes = await self._run(lambda conn, g=group: self._commit(conn, g))  # type: ignore[misc]
            except StorageError as exc:
                outcomes = [exc] * len(group)
            for (_, _, fut), outcome in zip(group, outcomes, strict=True):
                if fut.done():
                    continue
                if isinstance(outcome, BaseException):
                    fut.set_exception(outcome)
                else:
                    fut.set_result(outcome)

    async def _commit(
        self, conn: asyncpg.Connection, group: list[_Append]
    ) -> list[list[int] | BaseException]:
        e_op, e_list, e_seq = [], [], []
        c_op, c_list, c_idx, c_old, c_new, c_at, c_actor = [], [], [], [], [], [], []
        for k, (changes, expect, _) in enumerate(group):
            for list_id, seq in (expect or {}).items():
                e_op.append(k)
                e_list.append(list_id)
                e_seq.append(seq)
            for c in changes:
                c_op.append(k)
                c_list.append(c.list_id)
                c_idx.append(c.indices)
                c_old.append(c.old)
                c_new.append(c.new)
                c_at.append(c.at)
                c_actor.append(c.actor)
        rows = await conn.fetch(
            "SELECT op, seq, list_id FROM statuslist_append($1, $2, $3, $4, $5, $6, $7, $8, $9,"
            " $10)",
            e_op, e_list, e_seq, c_op, c_list, c_idx, c_old, c_new, c_at, c_actor,
        )  # fmt: skip
        refused = {r[0]: r[1] for r in rows if r[1] < 0}
        stale_lists: dict[int, list[str]] = {}
        for r in rows:
            if r[1] == -1:
                stale_lists.setdefault(r[0], []).append(r[2])
        seqs = iter(sorted(r[1] for r in rows if r[1] >= 0))
        outcomes: list[list[int] | BaseException] = []
        for k, (changes, _, _) in enumerate(group):
            if refused.get(k) == -2:
                missing = sorted({c.list_id for c in changes})
                outcomes.append(StorageError(f"no list {missing[0]!r} in the database"))
            elif refused.get(k) == -1:
                outcomes.append(StaleWriteError(sorted(stale_lists[k])))
            else:
                outcomes.append([next(seqs) for _ in changes])
        self.commits += 1
        self.writes += len(group)
        top = max((s for o in outcomes if isinstance(o, list) for s in o), default=0)
        self._last_seq = max(self._last_seq, top)
        return outcomes

    # -- other writes ---------------------------------------------------------------------------

    def insert_list(self, record: ListRecord, decoys: NewChange | None = None) -> Awaitable[int]:
        return self._start(self._run(lambda conn: self._insert_list(conn, record, decoys)))

    async def _insert_list(
        self, conn: asyncpg.Connection, r: ListRecord, decoys: NewChange | None
    ) -> int:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _APPEND_LOCK)
            await conn.execute(
                "INSERT INTO lists (id, issuer, bits, size, ttl, formats, final_invalid, decoys,"
                " auto, created_at, perm_key) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
                r.id,
                r.issuer,
                r.bits,
                r.size,
                r.ttl,
                json.dumps(list(r.formats)),
                r.final_invalid,
                r.decoys,
                r.auto,
                r.created_at,
                r.perm_key,
            )
            seq = 0
            if decoys is not None:
                seq = int(
                    await conn.fetchval(
                        "INSERT INTO changes (list_id, indices, old, new, at, actor)"
                        " VALUES ($1,$2,$3,$4,$5,$6) RETURNING seq",
                        decoys.list_id,
                        decoys.indices,
                        decoys.old,
                        decoys.new,
                        decoys.at,
                        decoys.actor,
                    )
                )
                await conn.execute("UPDATE lists SET last_seq = $2 WHERE id = $1", r.id, seq)
                await conn.execute("SELECT pg_notify('statuslist_changes', $1)", str(seq))
            await conn.execute("SELECT pg_notify('statuslist_lists', $1)", r.id)
        return seq

    def reserve(self, list_id: str, count: int, limit: int) -> Awaitable[tuple[int, int]]:
        async def run(conn: asyncpg.Connection) -> tuple[int, int]:
            async with conn.transaction():
                first = await conn.fetchval(
                    "SELECT counter FROM lists WHERE id = $1 FOR UPDATE", list_id
                )
                if first is None:
                    raise StorageError(f"no list {list_id!r} in the database")
                n = max(0, min(count, limit - first))
                if n:
                    await conn.execute(
                        "UPDATE lists SET counter = $2 WHERE id = $1", list_id, first + n
                    )
                return int(first), n

        return self._start(self._run(run))

    def save_tokens(
        self, tokens: Sequence[StoredToken], *, archive_until: float | None = None
    ) -> Awaitable[None]:
        async def run(conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _APPEND_LOCK)
                await conn.executemany(
                    "INSERT INTO tokens (list_id, fmt, body, iat, exp, seq, version)"
                    " VALUES ($1,$2,$3,$4,$5,$6, nextval('token_version'))"
                    " ON CONFLICT (list_id, fmt) DO UPDATE SET body = excluded.body,"
                    " iat = excluded.iat, exp = excluded.exp, seq = excluded.seq,"
                    " version = excluded.version",
                    [(t.list_id, t.fmt, t.body, t.iat, t.exp, t.seq) for t in tokens],
                )
                if archive_until is not None:
                    await conn.executemany(
                        "INSERT INTO token_history (list_id, fmt, iat, exp, body)"
                        " VALUES ($1,$2,$3,$4,$5) ON CONFLICT (list_id, fmt, iat) DO UPDATE"
                        " SET exp = excluded.exp, body = excluded.body",
                        [(t.list_id, t.fmt, t.iat, t.exp, t.body) for t in tokens],
                    )
                    await conn.execute("DELETE FROM token_history WHERE exp < $1", archive_until)
                await conn.execute("SELECT pg_notify('statuslist_tokens', '')")

        return self._start(self._run(run))

    def checkpoint(self, items: Sequence[Checkpoint]) -> Awaitable[None]:
        async def run(conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                for item in items:
                    await conn.executemany(
                        "INSERT INTO pages (list_id, page, data) VALUES ($1,$2,$3)"
                        " ON CONFLICT (list_id, page) DO UPDATE SET data = excluded.data",
                        [(item.list_id, n, data) for n, data in item.pages.items()],
                    )
                    await conn.execute(
                        "UPDATE lists SET checkpoint_seq = GREATEST(checkpoint_seq, $2)"
                        " WHERE id = $1",
                        item.list_id,
                        item.seq,
                    )

        return self._start(self._run(run))

    def insert_api_key(self, record: ApiKeyRecord) -> Awaitable[None]:
        async def run(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "INSERT INTO api_keys (key_hash, issuer, scope, label, created_at)"
                " VALUES ($1,$2,$3,$4,$5)",
                record.key_hash,
                record.issuer,
                record.scope,
                record.label,
                record.created_at,
            )

        return self._start(self._run(run))

    # -- reads ------------------------------------------------------------------------------------

    async def _loaded(self, conn: asyncpg.Connection, row: Any) -> LoadedList:
        record = _record(row)
        pages = {
            r[0]: bytes(r[1])
            for r in await conn.fetch("SELECT page, data FROM pages WHERE list_id = $1", record.id)
        }
        changes = [
            _change(c)
            for c in await conn.fetch(
                f"SELECT {_CHANGE_COLUMNS} FROM changes WHERE list_id = $1 AND seq > $2"  # noqa: S608
                " ORDER BY seq",
                record.id,
                row[12],
            )
        ]
        return LoadedList(record, row[11], row[12], pages, changes)

    async def load_lists(self) -> list[LoadedList]:
        async def run(conn: asyncpg.Connection) -> list[LoadedList]:
            rows = await conn.fetch(f"SELECT {_LIST_COLUMNS} FROM lists ORDER BY created_at, id")  # noqa: S608
            return [await self._loaded(conn, row) for row in rows]

        return await self._run(run)

    async def load_list(self, list_id: str) -> LoadedList | None:
        async def run(conn: asyncpg.Connection) -> LoadedList | None:
            row = await conn.fetchrow(f"SELECT {_LIST_COLUMNS} FROM lists WHERE id = $1", list_id)  # noqa: S608
            return None if row is None else await self._loaded(conn, row)

        return await self._run(run)

    async def list_ids(self) -> list[str]:
        return await self._run(lambda c: _column(c, "SELECT id FROM lists"))

    async def load_tokens(self) -> list[StoredToken]:
        return (await self.tokens_after(0))[1]

    async def tokens_after(self, version: int) -> tuple[int, list[StoredToken]]:
        async def run(conn: asyncpg.Connection) -> tuple[int, list[StoredToken]]:
            rows = await conn.fetch(
                "SELECT list_id, fmt, body, iat, exp, seq, version FROM tokens"
                " WHERE version > $1 ORDER BY version",
                version,
            )
            tokens = [StoredToken(r[0], r[1], bytes(r[2]), r[3], r[4], r[5]) for r in rows]
            return (rows[-1][6] if rows else version), tokens

        return await self._run(run)

    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        async def run(conn: asyncpg.Connection) -> ApiKeyRecord | None:
            row = await conn.fetchrow(
                "SELECT key_hash, issuer, scope, label, created_at FROM api_keys"
                " WHERE key_hash = $1",
                key_hash,
            )
            return ApiKeyRecord(*row) if row else None

        return await self._run(run)

    async def token_at(self, list_id: str, fmt: str, at: float) -> StoredToken | None:
        async def run(conn: asyncpg.Connection) -> StoredToken | None:
            row = await conn.fetchrow(
                "SELECT list_id, fmt, body, iat, exp FROM token_history"
                " WHERE list_id = $1 AND fmt = $2 AND iat <= $3 AND exp > $3"
                " ORDER BY iat DESC LIMIT 1",
                list_id,
                fmt,
                int(at),
            )
            return StoredToken(row[0], row[1], bytes(row[2]), row[3], row[4]) if row else None

        return await self._run(run)

    async def changes(self, list_id: str, after_seq: int, limit: int) -> list[Change]:
        async def run(conn: asyncpg.Connection) -> list[Change]:
            rows = await conn.fetch(
                f"SELECT {_CHANGE_COLUMNS} FROM changes WHERE list_id = $1 AND seq > $2"  # noqa: S608
                " ORDER BY seq LIMIT $3",
                list_id,
                after_seq,
                limit,
            )
            return [_change(r) for r in rows]

        return await self._run(run)

    async def changes_after(self, after_seq: int, limit: int) -> list[Change]:
        async def run(conn: asyncpg.Connection) -> list[Change]:
            rows = await conn.fetch(
                f"SELECT {_CHANGE_COLUMNS} FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",  # noqa: S608
                after_seq,
                limit,
            )
            return [_change(r) for r in rows]

        return await self._run(run)

    # -- news from other instances ----------------------------------------------------------------

    def _notified(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        kind = CHANNELS.get(channel)
        if kind == "changes":
            with contextlib.suppress(ValueError):
                self._last_seq = max(self._last_seq, int(payload))
        elif kind == "publish":
            kind = f"publish:{payload}"
        if kind:
            self._events.add(kind)
            self._event.set()

    async def _listen_loop(self) -> None:
        """Keeps a LISTEN connection; after each (re)connect every kind of news is reported,
        since notifications sent while it was away are lost."""
        while True:
            conn = None
            try:
                conn = await self._connect()
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                for channel in CHANNELS:
                    await conn.add_listener(channel, self._notified)
                self._events.update(("changes", "lists", "tokens"))
                self._event.set()
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), 5)
                    if not lost.is_set():  # a dead server or network shows here
                        await conn.fetchval("SELECT 1", timeout=self._timeout)
            except asyncio.CancelledError:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=1)
                raise
            except _DB_ERRORS as exc:
                self._problem = f"the database is unavailable: {_describe(exc)}"
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=1)
            await asyncio.sleep(0.5)

    async def wait_event(self, within: float) -> set[str]:
        if not self._events:
            self._event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), within)
        events, self._events = self._events, set()
        return events

    async def wait_changes(self, after_seq: int, within: float) -> int:
        deadline = time.monotonic() + within
        while self._last_seq <= after_seq:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), left)
        return self._last_seq

    async def request_publish(self, list_id: str) -> None:
        await self._run(lambda c: c.execute("SELECT pg_notify('statuslist_publish', $1)", list_id))

    async def lead(self) -> bool:
        """Holds (or tries to take) the leader's session advisory lock."""
        try:
            if self._lead_conn is None or self._lead_conn.is_closed():
                self._leading = False
                self._lead_conn = await self._connect()
            # Bounded: a silently dropped network must not stall the publisher.
            if self._leading:
                await self._lead_conn.fetchval("SELECT 1", timeout=self._timeout)
            else:
                self._leading = bool(
                    await self._lead_conn.fetchval(
                        "SELECT pg_try_advisory_lock($1)", _LEAD_LOCK, timeout=self._timeout
                    )
                )
        except _DB_ERRORS as exc:
            self._problem = f"the database is unavailable: {_describe(exc)}"
            if self._lead_conn is not None:
                with contextlib.suppress(Exception):
                    self._lead_conn.terminate()
            self._lead_conn, self._leading = None, False
        return self._leading


async def _no_reset(_conn: asyncpg.Connection) -> None:
    return None


async def _column(conn: asyncpg.Connection, sql: str) -> list[Any]:
    return [r[0] for r in await conn.fetch(sql)]


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
