"""The service in process: the write pipeline (memory changes after the commit, in order;
validation against writes in flight; cancelled requests; failed commits), allocation, the
publisher racing list creation, readiness, and shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from statuslist.codec import INVALID, SUSPENDED, VALID
from statuslist.exceptions import StorageError
from statuslist.service import Allocation, ListUpdate, NewList, Service, UpdateBatch
from statuslist.service.allocation import block_size
from statuslist.service.errors import ConflictError, NotFoundError, PayloadTooLargeError
from statuslist.service.publisher import next_round
from statuslist.storage import ListRecord, NewChange
from tests.service.conftest import ADMIN, Svc, settings_for, started, stopped


async def until(condition: Callable[[], bool]) -> None:
    """Yields to the loop until ``condition`` holds (a state the test waits for)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the state never came")


def one(list_id: str, idx: int, value: int) -> UpdateBatch:
    return UpdateBatch([ListUpdate(list_id, array("Q", [idx]), bytes([value]), "single")])


async def new_list(s: Service, **params: Any) -> str:
    state = await s.create_list(ADMIN, NewList(**params))
    return state.record.id


def test_memory_changes_only_after_the_commit(svc: Svc[None]) -> None:
    async def go(s: Service) -> None:
        lid = await new_list(s, bits=2, size=64)
        state = s.lists.by_id[lid]
        task = asyncio.create_task(s.entries.update(ADMIN, one(lid, 3, SUSPENDED)))
        await until(lambda: state.head[3] == SUSPENDED)  # validated and submitted
        assert (await s.entries.get(ADMIN, lid, 3))[1] == VALID, "uncommitted: not visible"
        assert state.head[3] == SUSPENDED and state.committed[3] == VALID
        assert await task == 1
        assert (await s.entries.get(ADMIN, lid, 3))[1] == SUSPENDED
        assert not state.busy and not state.queue and state.last_seq > 0

    svc(go)


def test_final_invalid_holds_against_writes_in_flight(svc: Svc[None]) -> None:
    async def go(s: Service) -> None:
        lid = await new_list(s, size=64, final_invalid=True)
        revoke = asyncio.create_task(s.entries.update(ADMIN, one(lid, 5, INVALID)))
        await until(lambda: s.lists.by_id[lid].head[5] == INVALID)  # submitted, not committed
        with pytest.raises(ConflictError):  # the revocation has not committed yet
            await s.entries.update(ADMIN, one(lid, 5, VALID))
        await revoke
        with pytest.raises(ConflictError):
            await s.entries.update(ADMIN, one(lid, 5, VALID))
        await s.entries.update(ADMIN, one(lid, 5, INVALID))  # INVALID again is fine
        changes = await s.storage.changes(lid, 0, 10)
        assert [(c.old, c.new) for c in changes] == [(b"\x00", b"\x01"), (b"\x01", b"\x01")]

    svc(go)


def test_many_concurrent_writes_land_in_order(svc: Svc[None]) -> None:
    async def go(s: Service) -> None:
        lid = await new_list(s, bits=8, size=64)
        # 300 writes to the same entry, in flight together: the last one submitted wins.
        await asyncio.gather(*(s.entries.update(ADMIN, one(lid, 7, n % 256)) for n in range(300)))
        assert (await s.entries.get(ADMIN, lid, 7))[1] == 299 % 256
        state = s.lists.by_id[lid]
        assert state.head[7] == 299 % 256 and not state.busy and not state.queue
        assert s.storage.commits < 100, "writes to one list share batches"
        logged = await s.storage.changes(lid, 0, 1000)
        assert [c.new[0] for c in logged] == [n % 256 for n in range(300)]
        assert [c.old[0] for c in logged[1:]] == [n % 256 for n in range(299)]

    svc(go)


def test_a_cancelled_request_still_settles_its_write(svc: Svc[None]) -> None:
    async def go(s: Service) -> None:
        lid = await new_list(s, size=64)
        state = s.lists.by_id[lid]
        # Gone before its batch formed: dropped (no answer was given), the pipeline flows on.
        early = asyncio.create_task(s.entries.update(ADMIN, one(lid, 8, INVALID)))
        await asyncio.sleep(0)
        early.cancel()
        # Gone while its batch commits: the write stands and is applied.
        late = asyncio.create_task(s.entries.update(ADMIN, one(lid, 9, INVALID)))
        await until(lambda: state.head[9] == INVALID)  # its batch is submitted
        late.cancel()
        for task in (early, late):
            with pytest.raises(asyncio.CancelledError):
                await task
        for _ in range(200):
            if not state.busy:
                break
            await asyncio.sleep(0.01)
        assert not state.busy and not state.queue
        assert (await s.entries.get(ADMIN, lid, 9))[1] == INVALID  # committed, so applied
        assert (await s.entries.get(ADMIN, lid, 8))[1] == VALID
        assert [c.actor for c in await s.storage.changes(lid, 0, 10)].count(ADMIN.actor) == 1
        await s.entries.update(ADMIN, one(lid, 10, INVALID))  # and the pipeline still flows

    svc(go)


def test_a_failed_commit_leaves_memory_as_committed(svc: Svc[None]) -> None:
    async def go(s: Service) -> None:
        lid = await new_list(s, size=64)
        await s.entries.update(ADMIN, one(lid, 1, INVALID))
        real = s.storage.append
        three = (3).to_bytes(8, "little")

        def failing(changes: list[NewChange], expect: Any = None) -> Any:
            if any(c.indices == three for c in changes):  # the append carrying entry 3 fails
                fut = asyncio.get_running_loop().create_future()
                fut.set_exception(StorageError("disk full"))
                return fut
            return real(changes, expect)

        s.storage.append = failing  # type: ignore[method-assign]
        results = await asyncio.gather(
            s.entries.update(ADMIN, one(lid, 2, INVALID)),
            s.entries.update(ADMIN, one(lid, 3, INVALID)),
            s.entries.update(ADMIN, one(lid, 4, INVALID)),
            return_exceptions=True,
        )
        # The append carrying entry 3 fails: its writes fail, the others stand (which writes
        # share a batch is the service's business; all three may, or each alone).
        assert isinstance(results[1], StorageError)
        state = s.lists.by_id[lid]
        for i, r in zip((2, 3, 4), results, strict=True):
            assert state.committed[i] == (1 if r == 1 else 0), (i, r)
        assert state.head.to_bytes() == state.committed.to_bytes() and not state.busy
        s.storage.append = real  # type: ignore[method-assign]
        assert await s.entries.update(ADMIN, one(lid, 3, INVALID)) == 1

    svc(go)


def test_batches_are_all_or_nothing_across_lists(svc: Svc[None]) -> None:
    async def go(s: Service) -> None:
        a, b = await new_list(s, size=64), await new_list(s, size=16, bits=1)
        good = ListUpdate(a, array("Q", [1, 2]), b"\x01\x01")
        bad = ListUpdate(b, array("Q", [3, 16]), b"\x01\x01", "indices")
        with pytest.raises(ValueError, match="outside") as err:
            await s.entries.update(ADMIN, UpdateBatch([good, bad]))
        assert getattr(err.value, "field", None) == "indices[1]"
        assert (await s.entries.get(ADMIN, a, 1))[1] == VALID and not s.lists.by_id[a].busy
        assert s.lists.by_id[a].head[1] == VALID
        assert await s.entries.update(ADMIN, UpdateBatch([good])) == 2
        other = ADMIN.__class__("someone-else", "admin", "x")
        with pytest.raises(NotFoundError):
            await s.entries.update(other, UpdateBatch([good]))

    svc(go)


def test_the_batch_limit(svc: Svc[None], data: Path) -> None:
    async def go(s: Service) -> None:
        lid = await new_list(s, size=64)
        idx = array("Q", range(11))
        with pytest.raises(PayloadTooLargeError):
            await s.entries.update(ADMIN, UpdateBatch([ListUpdate(lid, idx, bytes(11))]))

    from statuslist.config import Limits

    svc(go, limits=Limits(max_batch=10))


def test_allocation_never_repeats_across_concurrency_and_restarts(data: Path) -> None:
    settings = settings_for(data)
    seen: set[tuple[str, int]] = set()

    async def round_(n: int) -> int:
        s = await started(settings)
        try:
            before = s.metrics.allocated._value.get()
            got = await asyncio.gather(
                *(s.allocator.allocate(ADMIN, Allocation(n)) for _ in range(20))
            )
            flat = [e for batch in got for e in batch]
            assert len(flat) == len(set(flat)) == 20 * n
            assert not seen & set(flat), "an entry handed out again after a restart"
            seen.update(flat)
            assert s.metrics.allocated._value.get() - before == 20 * n
            return len({uri for uri, _ in flat})
        finally:
            await stopped(s)

    async def main() -> None:
        await round_(50)
        lists = await round_(1000)  # pool lists of 1 Mi entries: still one or two lists
        assert lists >= 1

    asyncio.run(main())


def test_a_restart_skips_the_counter_values_reserved_ahead(data: Path) -> None:
    """A reservation takes a whole block of counter values durably; what was not handed out
    before a restart is skipped afterwards (never reused), and counts as allocated."""
    settings = settings_for(data)

    async def main() -> None:
        s = await started(settings)
        try:
            lid = await new_list(s, size=1 << 20)
            state = s.lists.by_id[lid]
            block = block_size(state)
            assert block > 8
            first = await s.allocator.allocate(ADMIN, Allocation(3, lid))
            assert first == [(state.uri, i) for i in state.perm.many(0, 3)]
            # the block is durable, but only what was handed out shows as allocated
            assert state.counter == block and state.ahead_count == block - 3
            assert s.lists.describe(state, counts=False)["allocated"] == 3
        finally:
            await stopped(s)
        s = await started(settings)
        try:
            state = s.lists.by_id[lid]
            assert state.counter == block and state.ahead_count == 0
            assert s.lists.describe(state, counts=False)["allocated"] == block  # skipped
            after = await s.allocator.allocate(ADMIN, Allocation(5, lid))
            assert after == [(state.uri, i) for i in state.perm.many(block, 5)]
            before = {(state.uri, i) for i in state.perm.many(0, block)}
            assert not before & set(after), "a value reserved before the restart was reused"
            assert state.counter == 2 * block
        finally:
            await stopped(s)

    asyncio.run(main())


def test_allocations_are_served_from_the_block_reserved_ahead(svc: Svc[None]) -> None:
    """Sequential allocations reserve durably once per block, not once per request: the next
    block is reserved in the background before the last one runs out."""

    async def go(s: Service) -> None:
        lid = await new_list(s, size=1 << 22)
        state = s.lists.by_id[lid]
        block = block_size(state)
        calls: list[int] = []
        waited = 0  # reservations a request waited for (the others ran in the background)
        me = asyncio.current_task()
        reserve = s.storage.reserve

        def counting(list_id: str, count: int, limit: int) -> Any:
            nonlocal waited
            calls.append(count)
            waited += asyncio.current_task() is me
            return reserve(list_id, count, limit)

        s.storage.reserve = counting  # type: ignore[method-assign]
        per, rounds = block // 40, 120
        seen: set[int] = set()
        for _ in range(rounds):
            got = await s.allocator.allocate(ADMIN, Allocation(per, lid))
            seen.update(i for _, i in got)
            await asyncio.sleep(0.002)  # a client's round trip: the background reservation runs
        assert len(seen) == rounds * per
        assert len(calls) <= rounds * per // block + 2, calls
        assert all(c >= block for c in calls)
        assert waited == 1  # only the first request found nothing reserved ahead
        await s.allocator.close()
        assert s.lists.describe(state, counts=False)["allocated"] == rounds * per
        assert state.counter == sum(calls)

    svc(go)


def test_concurrent_allocations_use_up_a_list_exactly(svc: Svc[None]) -> None:
    """Concurrent allocations that together ask for exactly a list's capacity all succeed,
    although each reserves a whole block: a request whose reservation comes back short takes
    what the others left ahead (found by `statuslist loadtest`: 409s with 65,000 free)."""

    async def go(s: Service) -> None:
        size, per = 1 << 20, 5000
        lid = await new_list(s, size=size)
        state = s.lists.by_id[lid]
        counts = [per] * (size // per) + [size % per]
        got = await asyncio.gather(
            *(s.allocator.allocate(ADMIN, Allocation(n, lid)) for n in counts)
        )
        indices = {i for batch in got for _, i in batch}
        assert len(indices) == size
        assert state.free == 0
        with pytest.raises(ConflictError):
            await s.allocator.allocate(ADMIN, Allocation(1, lid))
        await s.allocator.close()
        assert s.lists.describe(state, counts=False)["allocated"] == size

    svc(go)


def test_a_refused_allocation_gives_its_values_back(svc: Svc[None]) -> None:
    """A request for more than a list has left is refused and takes nothing: the values it
    took from the block reserved ahead go back to it."""

    async def go(s: Service) -> None:
        lid = await new_list(s, size=4096)
        state = s.lists.by_id[lid]
        await s.allocator.allocate(ADMIN, Allocation(10, lid))
        await s.allocator.close()
        free = state.free
        with pytest.raises(ConflictError):
            await s.allocator.allocate(ADMIN, Allocation(free + 1, lid))
        assert state.free == free
        got = await s.allocator.allocate(ADMIN, Allocation(free, lid))
        assert len({i for _, i in got}) == free
        assert state.free == 0
        assert s.lists.describe(state, counts=False)["allocated"] == 4096

    svc(go)


def test_allocation_from_a_full_list_is_refused_and_pool_grows(svc: Svc[None]) -> None:
    from statuslist.config import ListDefaults

    async def go(s: Service) -> None:
        fixed = await new_list(s, size=16, bits=1)
        got = await s.allocator.allocate(ADMIN, Allocation(16, fixed))
        assert sorted(i for _, i in got) == list(range(16))
        with pytest.raises(ConflictError):
            await s.allocator.allocate(ADMIN, Allocation(1, fixed))
        # The pool (lists of 64 entries here) grows by as many lists as it takes.
        many = await asyncio.gather(
            *(s.allocator.allocate(ADMIN, Allocation(50)) for _ in range(5))
        )
        flat = [e for batch in many for e in batch]
        assert len(set(flat)) == 250
        uris = {u for u, _ in flat}
        assert len(uris) >= 4
        for uri in uris:  # every list handed out is already published
            lid = uri.rsplit("/", 1)[1]
            assert s.lists.by_id[lid].published is not None

    svc(go, list_defaults=ListDefaults(bits=1, size=64))


def test_no_entry_of_a_new_pool_list_is_handed_out_before_its_publish(svc: Svc[None]) -> None:
    """An allocation arriving while another one's new automatic list is being published waits
    for that publish instead of drawing from the (already registered) list."""
    from statuslist.config import ListDefaults

    async def go(s: Service) -> None:
        growing, release = asyncio.Event(), asyncio.Event()
        publish = s.allocator._publish_new

        async def slow_publish(state: Any) -> None:
            growing.set()
            await release.wait()
            await publish(state)

        s.allocator._publish_new = slow_publish
        first = asyncio.create_task(s.allocator.allocate(ADMIN, Allocation(10)))
        await growing.wait()
        second = asyncio.create_task(s.allocator.allocate(ADMIN, Allocation(10)))
        done, _ = await asyncio.wait({second}, timeout=0.5)  # its reservation alone takes ms
        assert not done, "entries handed out from a list that is not published yet"
        release.set()
        got = await first + await second
        assert len(set(got)) == 20
        for uri, _ in got:
            assert s.lists.by_id[uri.rsplit("/", 1)[1]].published is not None

    svc(go, list_defaults=ListDefaults(bits=1, size=64))


def test_allocation_json_answer_spans_lists(svc: Svc[None]) -> None:
    """The native JSON answer: what ``json.dumps`` writes, entries from several pool lists,
    all distinct and never handed out again."""
    import json

    from statuslist.config import ListDefaults

    async def go(s: Service) -> None:
        small = json.loads(await s.allocator.allocate_json(ADMIN, Allocation(3)))
        body = await s.allocator.allocate_json(ADMIN, Allocation(300))  # > inline: a thread
        doc = json.loads(body)
        assert body == json.dumps(doc).encode()
        entries = {(e["status_list"]["uri"], e["status_list"]["idx"]) for e in small + doc}
        assert len(entries) == 303 == len(small) + len(doc)
        assert len({u for u, _ in entries}) >= 3
        rest = await s.allocator.allocate(ADMIN, Allocation(200))
        assert not set(rest) & entries

    svc(go, list_defaults=ListDefaults(bits=1, size=128))


def test_list_creation_and_allocation_race_the_publisher(svc: Svc[None]) -> None:
    """The publisher iterates the lists while new ones are created and allocated from
    (issue #10: "dictionary changed size during iteration" skipped whole rounds)."""
    from statuslist.config import ListDefaults

    async def go(s: Service) -> None:
        async def creator() -> None:
            for _ in range(30):
                lid = await new_list(s, size=256)
                await s.entries.update(ADMIN, one(lid, 1, INVALID))

        async def allocator() -> None:
            for _ in range(30):
                await s.allocator.allocate(ADMIN, Allocation(40))

        errors: list[str] = []

        async def watcher() -> None:
            for _ in range(100):
                if s.publisher.last_error:
                    errors.append(s.publisher.last_error)
                await asyncio.sleep(0.005)

        await asyncio.gather(creator(), creator(), allocator(), allocator(), watcher())
        assert not errors, errors
        await s.publisher.publish()
        assert s.publisher.last_error is None
        for state in s.lists.by_id.values():
            assert state.published is not None and not state.dirty

    for _ in range(3):
        svc(go, list_defaults=ListDefaults(bits=1, size=64), publish_interval=0.01)


def test_an_issuer_without_a_key_is_not_ready_and_retried(data: Path) -> None:
    settings = settings_for(data)

    async def main() -> None:
        s = await started(settings)
        ghost = ListRecord(
            "ghost1", "ghost", 1, 64, 60, ("jwt",), False, 0, False, 0.0, os.urandom(32)
        )
        await s.storage.insert_list(ghost)
        await stopped(s)
        s = await started(settings)
        try:
            await s.publisher.publish()
            reasons = s.not_ready()
            assert any("ghost" in r and "no signing key" in r for r in reasons), reasons
            assert s.lists.by_id["ghost1"].dirty, "left to be retried"
        finally:
            await stopped(s)

    asyncio.run(main())


def test_stop_logs_a_failed_final_publish(svc: Svc[None], caplog: pytest.LogCaptureFixture) -> None:
    async def go(s: Service) -> None:
        await new_list(s, size=64)

        async def broken(*_: Any, **__: Any) -> None:
            raise StorageError("disk gone")

        s.publisher.publish = broken  # type: ignore[method-assign]

    with caplog.at_level(logging.ERROR):
        svc(go)
    assert any("final publish" in r.message for r in caplog.records)


def test_restart_replays_the_log_and_keeps_tokens(data: Path) -> None:
    settings = settings_for(data)

    async def main() -> None:
        s = await started(settings)
        lid = await new_list(s, bits=2, size=1 << 16)
        await s.entries.update(ADMIN, one(lid, 40000, SUSPENDED))
        await s.publisher.publish()
        token = s.lists.by_id[lid].published
        await s.entries.update(ADMIN, one(lid, 7, INVALID))  # after the publish
        s.publisher._task.cancel()  # type: ignore[union-attr]
        await s.storage.close()
        s = await started(settings)
        try:
            state = s.lists.by_id[lid]
            assert state.committed[40000] == SUSPENDED and state.committed[7] == INVALID
            assert state.head.to_bytes() == state.committed.to_bytes()
            assert token is not None and state.published is not None
            await s.publisher.publish()
            assert state.published.seq == state.last_seq
        finally:
            await stopped(s)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("interval", "took", "wait"),
    [
        (1.0, 0.0, 1.0),  # an idle round: one interval apart
        (1.0, 0.03, 0.94),  # a short round starts its successor that much earlier
        (1.0, 0.1, 0.8),
        (1.0, 0.15, 0.75),  # a long one: at most a tenth of the interval early
        (1.0, 0.95, 0.0),
        (1.0, 2.5, 0.0),  # longer than the interval: at once
        (0.2, 0.05, 0.13),
    ],
)
def test_rounds_start_an_interval_apart_less_the_encode(
    interval: float, took: float, wait: float
) -> None:
    """The start of a round is at most a tenth of the interval earlier than one interval after
    the last, so that a change which just missed a snapshot reaches a token about one interval
    after it was made (the publish lag target), and rounds never run back to back early."""
    got = next_round(interval, took)
    assert got == pytest.approx(wait, abs=1e-9)
    assert took + got >= interval * 0.9 - 1e-9 or got == 0.0
