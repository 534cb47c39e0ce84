"""Which PostgreSQL driver: asyncpg or psycopg 3 (with psycopg_pool), measured on the write the
service does, against a real PostgreSQL server started here (``tests/pg.py``).

    python3 -m benchmarks.pg_drivers

Two shapes, each driver twice, interleaved: (1) 64 concurrent tasks each committing single-row
write transactions on one list (lock the list row, insert a change, bump the list) through a
pool of 10 connections — the naive way; (2) asyncpg committing 64 changes per transaction (what
the service's group commit does). Prints writes per second.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import psycopg_pool

from tests.pg import PostgresServer

TASKS, PER = 64, 150
SETUP = (
    "CREATE TABLE lists (id text PRIMARY KEY, last_seq bigint NOT NULL DEFAULT 0);"
    " CREATE TABLE changes (seq bigserial PRIMARY KEY, list_id text, indices bytea,"
    " at double precision); INSERT INTO lists VALUES ('L', 0);"
)


async def with_asyncpg(url: str) -> float:
    pool = await asyncpg.create_pool(url, min_size=10, max_size=10)

    async def one() -> None:
        async with pool.acquire() as c, c.transaction():
            await c.fetchval("SELECT last_seq FROM lists WHERE id = $1 FOR UPDATE", "L")
            seq = await c.fetchval(
                "INSERT INTO changes (list_id, indices, at) VALUES ($1, $2, $3) RETURNING seq",
                "L",
                b"12345678",
                1.0,
            )
            await c.execute("UPDATE lists SET last_seq = $2 WHERE id = $1", "L", seq)

    t0 = time.perf_counter()
    await asyncio.gather(*(_repeat(one) for _ in range(TASKS)))
    rate = TASKS * PER / (time.perf_counter() - t0)
    await pool.close()
    return rate


async def with_psycopg(url: str) -> float:
    pool = psycopg_pool.AsyncConnectionPool(url, min_size=10, max_size=10, open=False)
    await pool.open()

    async def one() -> None:
        async with pool.connection() as c, c.transaction():
            await (
                await c.execute("SELECT last_seq FROM lists WHERE id = %s FOR UPDATE", ("L",))
            ).fetchone()
            row = await (
                await c.execute(
                    "INSERT INTO changes (list_id, indices, at) VALUES (%s, %s, %s) RETURNING seq",
                    ("L", b"12345678", 1.0),
                )
            ).fetchone()
            assert row is not None
            await c.execute("UPDATE lists SET last_seq = %s WHERE id = %s", (row[0], "L"))

    t0 = time.perf_counter()
    await asyncio.gather(*(_repeat(one) for _ in range(TASKS)))
    rate = TASKS * PER / (time.perf_counter() - t0)
    await pool.close()
    return rate


async def grouped_asyncpg(url: str) -> float:
    conn = await asyncpg.connect(url)
    t0 = time.perf_counter()
    n = 0
    for _ in range(PER):
        async with conn.transaction():
            await conn.fetchval("SELECT last_seq FROM lists WHERE id = $1 FOR UPDATE", "L")
            rows = await conn.fetch(
                "INSERT INTO changes (list_id, indices, at) SELECT 'L', i, 1.0"
                " FROM unnest($1::bytea[]) AS i RETURNING seq",
                [b"12345678"] * 64,
            )
            n += len(rows)
    rate = n / (time.perf_counter() - t0)
    await conn.close()
    return rate


async def _repeat(fn: object) -> None:
    for _ in range(PER):
        await fn()  # type: ignore[operator]


async def main() -> None:
    server = PostgresServer().init().start()
    try:
        for name, bench in (
            ("asyncpg, single-row transactions", with_asyncpg),
            ("psycopg, single-row transactions", with_psycopg),
            ("asyncpg, single-row transactions", with_asyncpg),
            ("psycopg, single-row transactions", with_psycopg),
            ("asyncpg, 64 rows per transaction", grouped_asyncpg),
        ):
            url = server.new_database("drivers")
            conn = await asyncpg.connect(url)
            await conn.execute(SETUP)
            await conn.close()
            print(f"{name}: {await bench(url):,.0f} writes/s", flush=True)
    finally:
        server.destroy()


if __name__ == "__main__":
    asyncio.run(main())
