"""The storage contract: what the service relies on from any backend. Every test runs against
every backend in ``conftest.BACKENDS``, through the public protocol only."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

import pytest

from statuslist.exceptions import StorageError
from statuslist.storage import (
    ApiKeyRecord,
    Checkpoint,
    ListRecord,
    NewChange,
    Storage,
    StoredToken,
)
from tests.storage.conftest import Run


def record(list_id: str, size: int = 64, issuer: str = "i") -> ListRecord:
    return ListRecord(list_id, issuer, 1, size, 60, ("jwt",), False, 0, False, 0.0, os.urandom(32))


def change(list_id: str, actor: str, idx: int = 1, new: int = 1) -> NewChange:
    return NewChange(list_id, idx.to_bytes(8, "little"), b"\x00", bytes([new]), 1.5, actor)


def test_append_is_durable_ordered_and_atomic(
    run: Run[None], backend: Callable[[], Storage]
) -> None:
    async def write(s: Storage) -> None:
        await s.insert_list(record("L"))
        await s.insert_list(record("M"))
        one = await s.append([change("L", "a"), change("M", "a", 2)])
        assert len(one) == 2 and one[0] < one[1]
        more = await asyncio.gather(*(s.append([change("L", f"w{n}", n)]) for n in range(50)))
        seqs = [x[0] for x in more]
        assert seqs == sorted(seqs) and seqs[0] > one[1], "sequence numbers follow submission"

    run(write)

    async def read(s: Storage) -> None:  # a fresh storage on the same database: a restart
        logged = await s.changes("L", 0, 1000)
        assert [c.actor for c in logged] == ["a", *(f"w{n}" for n in range(50))]
        assert logged[1].indices == (0).to_bytes(8, "little") and logged[1].new == b"\x01"
        assert [c.list_id for c in await s.changes_after(0, 2)] == ["L", "M"]
        everything = await s.changes_after(0, 1000)
        assert [c.seq for c in everything] == sorted(c.seq for c in everything)
        assert len(everything) == 52
        assert await s.changes_after(everything[-1].seq, 10) == []
        assert await s.changes("L", logged[-1].seq, 10) == []

    run(read)


def test_one_append_of_many_changes_numbers_them_in_order(run: Run[None]) -> None:
    """An append's sequence numbers are those its changes were logged under, in its order (the
    SQLite backend logs a batch in a few multi-row statements)."""

    async def go(s: Storage) -> None:
        await s.insert_list(record("L", 1024))
        await s.insert_list(record("M", 1024))
        for n in (1, 2, 3, 127, 128, 129, 300):
            batch = [change("LM"[k % 2], f"n{n}k{k}", k, 1 + k % 2) for k in range(n)]
            seqs = await s.append(batch)
            assert len(seqs) == n and seqs == sorted(seqs) and len(set(seqs)) == n
            logged = {c.seq: c for c in await s.changes_after(seqs[0] - 1, 1000)}
            for seq, sent in zip(seqs, batch, strict=True):
                got = logged[seq]
                assert (got.list_id, got.actor, got.indices, got.new) == (
                    sent.list_id, sent.actor, sent.indices, sent.new,
                )  # fmt: skip

    run(go)


def test_a_failing_operation_fails_alone_and_writes_share_commits(run: Run[None]) -> None:
    async def go(s: Storage) -> None:
        await s.insert_list(record("L"))
        before = s.commits
        ops = [s.append([change("L", f"w{n}", n)]) for n in range(200)]
        ops.insert(7, s.reserve("no-such-list", 1, 10))  # refused: no such list
        results = await asyncio.gather(*ops, return_exceptions=True)
        assert isinstance(results[7], StorageError)
        assert sum(isinstance(r, list) for r in results) == 200
        assert s.commits - before < 50, f"{s.commits - before} commits for 201 writes"
        assert len(await s.changes("L", 0, 1000)) == 200

    run(go)


def test_reserve_never_hands_out_a_counter_twice(
    run: Run[None], backend: Callable[[], Storage]
) -> None:
    async def go(s: Storage) -> None:
        await s.insert_list(record("L", size=1000))
        got = await asyncio.gather(*(s.reserve("L", 7, 1000) for _ in range(100)))
        values = [v for first, n in got for v in range(first, first + n)]
        assert len(values) == len(set(values)) == 700
        assert await s.reserve("L", 500, 1000) == (700, 300)  # capped at the limit
        assert await s.reserve("L", 1, 1000) == (1000, 0)

    run(go)

    async def after_restart(s: Storage) -> None:
        (loaded,) = await s.load_lists()
        assert loaded.counter == 1000
        assert await s.reserve("L", 1, 2000) == (1000, 1)

    run(after_restart)


def test_lists_checkpoints_and_replay_tail_load(run: Run[None]) -> None:
    r = record("L", size=1 << 20)
    decoys = NewChange("L", (5).to_bytes(8, "little"), b"\x00", b"\x01", 0.0, "decoy")

    async def write(s: Storage) -> None:
        seq0 = await s.insert_list(r, decoys)
        assert seq0 > 0
        (s1,) = await s.append([change("L", "a", 9)])
        await s.checkpoint([Checkpoint("L", {0: b"\x01" * 16, 3: b"\x02"}, s1)])
        await s.append([change("L", "b", 10)])
        await s.checkpoint([Checkpoint("L", {0: b"\x03"}, s1 - 1)])  # an older one: seq kept

    run(write)

    async def read(s: Storage) -> None:
        (loaded,) = await s.load_lists()
        assert loaded.record == r
        assert loaded.pages == {0: b"\x03", 3: b"\x02"}
        assert [c.actor for c in loaded.changes] == ["b"], "only the log after the checkpoint"
        assert loaded.checkpoint_seq == loaded.changes[0].seq - 1

    run(read)


def test_tokens_history_and_api_keys(run: Run[None]) -> None:
    now = time.time()

    async def go(s: Storage) -> None:
        await s.insert_list(record("L"))
        old = StoredToken("L", "jwt", b"old", int(now) - 100, int(now) - 10, 1)
        await s.save_tokens([old], archive_until=now - 3600)
        new = StoredToken("L", "jwt", b"new", int(now) - 5, int(now) + 100, 2)
        cwt = StoredToken("L", "cwt", b"cwt", int(now) - 5, int(now) + 100, 2)
        await s.save_tokens([new, cwt], archive_until=now - 1)  # drops the expired archive
        assert sorted((t.fmt, t.body) for t in await s.load_tokens()) == [
            ("cwt", b"cwt"),
            ("jwt", b"new"),
        ]
        assert await s.token_at("L", "jwt", now - 50) is None
        found = await s.token_at("L", "jwt", now)
        assert found is not None and found.body == b"new"
        await s.save_tokens([StoredToken("L", "jwt", b"newer", int(now), int(now) + 100, 3)])
        assert await s.token_at("L", "jwt", now) == found, "not archived without archive_until"
        key = ApiKeyRecord("h" * 64, "i", "write", "label", now)
        await s.insert_api_key(key)
        assert await s.find_api_key("h" * 64) == key
        assert await s.find_api_key("x" * 64) is None
        with pytest.raises(StorageError):
            await s.insert_api_key(key)  # the same key twice

    run(go)


def test_wait_changes_wakes_on_a_commit(run: Run[None]) -> None:
    async def go(s: Storage) -> None:
        await s.insert_list(record("L"))
        last = await s.wait_changes(0, 0.01)
        t0 = time.monotonic()
        assert await s.wait_changes(last, 0.05) == last  # nothing new: times out
        assert time.monotonic() - t0 >= 0.04
        waiter = asyncio.create_task(s.wait_changes(last, 10))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        (seq,) = await s.append([change("L", "a")])
        assert await asyncio.wait_for(waiter, 5) == seq

    run(go)


def test_closed_storage_refuses_writes(backend: Callable[[], Storage]) -> None:
    async def go() -> None:
        s = backend()
        await s.open()
        await s.insert_list(record("L"))
        await s.close()
        await s.close()  # idempotent
        with pytest.raises(StorageError):
            await s.append([change("L", "late")])

    asyncio.run(go())
