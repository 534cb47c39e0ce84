"""Allocation: fresh entries for credentials, never handed out twice.

Each list's allocation counter lives in the database: :meth:`Storage.reserve` bumps it atomically
and hands this instance a range of counter values no other request or instance gets; the list's
keyed permutation turns counter values into random-looking indices. Requests without a list draw
from the issuer's automatic lists, oldest first, and create a new one when all are full.

Counter values are reserved **ahead**, in blocks (``ListState.ahead``): a reservation takes at
least a block, what the request does not need stays in memory for the next ones, and when less
than half a block is left another is reserved in the background. So a request is served from
memory, without waiting for a durable write, unless the block ran out. Each block is a durable
counter advance, so values are never handed out twice, across restarts and instances alike: what
an instance reserved and did not hand out before it stopped is skipped, never reused. A block is
at most 1/64 of the list's capacity, so a restart skips at most about 3% of a small list.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from statuslist.config import Settings
from statuslist.metrics import Metrics
from statuslist.service.commands import Allocation, NewList
from statuslist.service.errors import ConflictError, ValidationError
from statuslist.service.keys import ApiKey, require
from statuslist.service.lists import Lists
from statuslist.service.permutation import answer_json
from statuslist.service.state import ListState
from statuslist.storage import Storage

__all__ = ["Allocator", "Reserved"]

log = logging.getLogger("statuslist.allocation")

#: Up to this many indices are computed on the event loop; more in a worker thread (where the
#: native permutation runs without the GIL, so concurrent allocations compute in parallel).
_INLINE = 256
#: Counter values reserved at once, at most (a request of more reserves what it needs) ...
BLOCK = 1 << 16
#: ... and at most this fraction of a list's capacity (what a restart may skip).
BLOCK_SHARE = 64


def block_size(state: ListState) -> int:
    """How many counter values one reservation ahead takes on ``state``."""
    return max(1, min(BLOCK, state.capacity // BLOCK_SHARE))


class Allocator:
    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        lists: Lists,
        metrics: Metrics,
        publish_new: Callable[[ListState], Awaitable[None]],
    ) -> None:
        self._limit = settings.limits.max_allocation
        self._storage = storage
        self._lists = lists
        self._metrics = metrics
        self._publish_new = publish_new
        self._growing: dict[str, asyncio.Lock] = {}
        #: Automatic lists created here and not yet published: registered (so visible to
        #: ``_pool_list``) but nothing may be handed out from them yet.
        self._unpublished: set[str] = set()
        #: Lists with a reservation ahead in flight, and those reservations' tasks.
        self._refilling: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        """Waits for the reservations ahead still in flight (before the storage closes)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def allocate(self, caller: ApiKey, cmd: Allocation) -> list[tuple[str, int]]:
        """``cmd.count`` fresh entries as ``(uri, idx)``."""
        reserved = await self.reserve(caller, cmd)
        return (
            reserved.entries()
            if cmd.count <= _INLINE
            else await asyncio.to_thread(reserved.entries)
        )

    async def allocate_json(self, caller: ApiKey, cmd: Allocation) -> bytes:
        """``cmd.count`` fresh entries as the JSON answer of ``POST /v1/allocations``: an array
        of ``{"status_list": {"idx": N, "uri": "…"}}``, built natively (off the event loop and
        without the GIL for large counts)."""
        reserved = await self.reserve(caller, cmd)
        return reserved.json() if cmd.count <= _INLINE else await asyncio.to_thread(reserved.json)

    async def reserve(self, caller: ApiKey, cmd: Allocation) -> Reserved:
        """Reserves ``cmd.count`` counter values (from one or several lists) for this caller.

        Nothing here waits for another allocation except a database reservation (a short
        atomic bump of the list's counter) and, when the issuer's automatic lists are full, the
        creation of the next one; computing the indices is left to the caller, so concurrent
        allocations compute theirs in parallel."""
        require(caller, "write")
        count = cmd.count
        if not 1 <= count <= self._limit:
            raise ValidationError(f"count must be an integer in [1, {self._limit}]", field="count")
        ranges: list[tuple[ListState, int, int]] = []
        if cmd.list_id is not None:
            state = await self._lists.resolve(caller, cmd.list_id)
            if state.free < count:
                raise _short(state, count)
            got = await self._take(state, count)
            if sum(n for _, n in got) < count:
                # another allocation took them first: what was taken goes back, unused
                _give_back(state, got)
                raise _short(state, count)
            ranges.extend((state, first, n) for first, n in got)
        else:
            need = count
            while need:
                state = self._pool_list(caller.issuer) or await self._grow(caller.issuer)
                for first, n in await self._take(state, need):
                    ranges.append((state, first, n))
                    need -= n
        self._metrics.allocated.inc(count)
        return Reserved(tuple(ranges))

    async def _take(self, state: ListState, count: int) -> list[tuple[int, int]]:
        """Up to ``count`` counter values of ``state`` as ``(first, n)`` ranges: those reserved
        ahead first, then a durable reservation of at least a block for the rest (what it has
        over stays ahead). Fewer only when the list has no more."""
        got = _from_ahead(state, count)
        need = count - sum(n for _, n in got)
        while need:
            first, n = await self._reserve(state, max(need, block_size(state)))
            used = min(n, need)
            if used:
                got.append((first, used))
                need -= used
            if n > used:
                _add_ahead(state, first + used, first + n)
            if need:  # the counter ran out: other reservations may have left values ahead
                more = _from_ahead(state, need)
                got += more
                need -= sum(k for _, k in more)
                if not n and not more:
                    break  # nothing left anywhere
        if state.ahead_count < block_size(state) // 2:
            self._refill(state)
        return got

    def _refill(self, state: ListState) -> None:
        """Reserves another block of ``state`` in the background (one at a time per list)."""
        list_id = state.record.id
        if list_id in self._refilling or state.counter >= state.capacity:
            return
        self._refilling.add(list_id)

        async def run() -> None:
            try:
                first, n = await self._reserve(state, block_size(state))
                if n:
                    _add_ahead(state, first, first + n)
            except Exception as exc:  # the next request that needs values reserves them itself
                log.warning("reserving allocation counters ahead for %s failed: %s", list_id, exc)
            finally:
                self._refilling.discard(list_id)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reserve(self, state: ListState, count: int) -> tuple[int, int]:
        first, n = await self._storage.reserve(state.record.id, count, state.capacity)
        state.counter = max(state.counter, first + n)
        return first, n

    def _pool_list(self, issuer: str) -> ListState | None:
        """The issuer's oldest automatic list with room."""
        for s in self._lists.by_issuer.get(issuer, ()):
            if s.record.auto and s.free and s.record.id not in self._unpublished:
                return s
        return None

    async def _grow(self, issuer: str) -> ListState:
        """A new automatic list for ``issuer``, published before any of its entries is handed
        out; concurrent allocations that ran out wait for the same one."""
        lock = self._growing.setdefault(issuer, asyncio.Lock())
        async with lock:
            state = self._pool_list(issuer)
            if state is not None:
                return state
            record = self._lists.new_record(issuer, NewList(), auto=True)
            self._unpublished.add(record.id)
            try:
                state = await self._lists.insert(record)
                await self._publish_new(state)
            finally:
                self._unpublished.discard(record.id)
            return state


@dataclass(frozen=True, slots=True)
class Reserved:
    """Counter ranges ``(list, first, count)`` reserved for one allocation; every list in it is
    published (a new automatic list is published before :meth:`Allocator.reserve` returns)."""

    ranges: tuple[tuple[ListState, int, int], ...]

    def entries(self) -> list[tuple[str, int]]:
        """The entries as ``(uri, idx)``."""
        out: list[tuple[str, int]] = []
        for state, start, n in self.ranges:
            uri = state.uri
            out.extend((uri, i) for i in state.perm.many(start, n))
        return out

    def json(self) -> bytes:
        """The entries as the JSON array ``json.dumps`` would write for
        ``[{"status_list": {"idx": idx, "uri": uri}}, …]``."""
        return answer_json([(state.perm, start, n, state.uri) for state, start, n in self.ranges])


def _from_ahead(state: ListState, count: int) -> list[tuple[int, int]]:
    """Up to ``count`` of the counter values ``state`` has reserved ahead, taken."""
    got = []
    ahead = state.ahead
    while count and ahead:
        first, end = ahead[0]
        n = min(count, end - first)
        got.append((first, n))
        if first + n == end:
            ahead.popleft()
        else:
            ahead[0] = (first + n, end)
        state.ahead_count -= n
        count -= n
    return got


def _add_ahead(state: ListState, first: int, end: int) -> None:
    state.ahead.append((first, end))
    state.ahead_count += end - first


def _give_back(state: ListState, got: list[tuple[int, int]]) -> None:
    """Counter values taken and not handed out, ahead again (for the next request)."""
    for first, n in reversed(got):
        state.ahead.appendleft((first, first + n))
        state.ahead_count += n


def _short(state: ListState, count: int) -> ConflictError:
    return ConflictError(
        f"list {state.record.id} has {state.free} free entries, {count} requested",
        field="count",
    )
