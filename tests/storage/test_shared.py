"""The contract of shared backends (several instances on one database): optimistic appends,
news between instances, one leader at a time with failover, migrations applied once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from statuslist.storage import StaleWriteError, Storage
from tests.storage.test_contract import change, record


async def _open(make: Callable[[], Storage], n: int) -> list[Storage]:
    stores = [make() for _ in range(n)]
    await asyncio.gather(*(s.open() for s in stores))  # migrations race: applied once
    return stores


def test_appends_check_what_the_writer_saw(shared_backend: Callable[[], Storage]) -> None:
    async def go() -> None:
        a, b = await _open(shared_backend, 2)
        try:
            assert a.shared and b.shared
            await a.insert_list(record("L"))
            await a.insert_list(record("M"))
            (s1,) = await a.append([change("L", "a")], expect={"L": 0})
            with pytest.raises(StaleWriteError) as err:  # b still thinks L is at 0
                await b.append([change("L", "b"), change("M", "b")], expect={"L": 0, "M": 0})
            assert err.value.list_ids == ("L",)
            assert [c.actor for c in await b.changes("M", 0, 10)] == [], "all or nothing"
            (s2,) = await b.append([change("L", "b")], expect={"L": s1})
            assert s2 > s1
            # Concurrent appends from both, each with the right expectation only once.
            results = await asyncio.gather(
                a.append([change("M", "a")], expect={"M": 0}),
                b.append([change("M", "b")], expect={"M": 0}),
                return_exceptions=True,
            )
            assert sum(isinstance(r, StaleWriteError) for r in results) == 1
            assert len(await a.changes("M", 0, 10)) == 1
        finally:
            await asyncio.gather(a.close(), b.close())

    asyncio.run(go())


def test_news_reaches_the_other_instance(shared_backend: Callable[[], Storage]) -> None:
    async def go() -> None:
        a, b = await _open(shared_backend, 2)
        try:
            await b.wait_event(0.5)  # the first connect reports everything; drain it
            await a.insert_list(record("L"))
            got: set[str] = set()
            for _ in range(20):
                got |= await b.wait_event(0.5)
                if "lists" in got:
                    break
            assert "lists" in got
            (seq,) = await a.append([change("L", "a")])
            assert await b.wait_changes(seq - 1, 5) >= seq
            await a.request_publish("L")
            got = set()
            for _ in range(20):
                got |= await b.wait_event(0.5)
                if "publish:L" in got:
                    break
            assert "publish:L" in got
            assert await b.load_list("L") is not None and await b.load_list("nope") is None
            assert await b.list_ids() == ["L"]
        finally:
            await asyncio.gather(a.close(), b.close())

    asyncio.run(go())


def test_one_leader_and_failover(shared_backend: Callable[[], Storage]) -> None:
    async def go() -> None:
        a, b, c = await _open(shared_backend, 3)
        try:
            leads = [await s.lead() for s in (a, b, c)]
            assert leads == [True, False, False]
            assert await a.lead() and not await b.lead(), "leadership is kept"
            await a.close()  # the leader goes away: its session and lock with it
            for _ in range(50):
                if await b.lead() or await c.lead():
                    break
                await asyncio.sleep(0.1)
            assert [await b.lead(), await c.lead()].count(True) == 1
        finally:
            await asyncio.gather(b.close(), c.close())

    asyncio.run(go())
