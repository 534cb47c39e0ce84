"""Allocation: fresh entries for credentials, never handed out twice.

Each list's allocation counter lives in the database: :meth:`Storage.reserve` bumps it atomically
and hands this caller a range of counter values no other request or instance gets; the list's
keyed permutation turns counter values into random-looking indices. Requests without a list draw
from the issuer's automatic lists, oldest first, and create a new one when all are full.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from statuslist.config import Settings
from statuslist.metrics import Metrics
from statuslist.service.commands import Allocation, NewList
from statuslist.service.errors import ConflictError, ValidationError
from statuslist.service.keys import ApiKey, require
from statuslist.service.lists import Lists
from statuslist.service.state import ListState
from statuslist.storage import Storage

__all__ = ["Allocator"]

#: Up to this many indices are computed on the event loop; more in a worker thread.
_INLINE = 256


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

    async def allocate(self, caller: ApiKey, cmd: Allocation) -> list[tuple[str, int]]:
        """``cmd.count`` fresh entries as ``(uri, idx)``."""
        require(caller, "write")
        count = cmd.count
        if not 1 <= count <= self._limit:
            raise ValidationError(f"count must be an integer in [1, {self._limit}]", field="count")
        ranges: list[tuple[ListState, int, int]] = []
        if cmd.list_id is not None:
            state = await self._lists.resolve(caller, cmd.list_id)
            if state.capacity - state.counter < count:
                raise _short(state, count)
            first, n = await self._reserve(state, count)
            if n < count:  # another allocation took them first; what was reserved stays unused
                raise _short(state, count)
            ranges.append((state, first, n))
        else:
            need = count
            while need:
                state = self._pool_list(caller.issuer) or await self._grow(caller.issuer)
                first, n = await self._reserve(state, need)
                if n:
                    ranges.append((state, first, n))
                    need -= n
        self._metrics.allocated.inc(count)

        def indices() -> list[tuple[str, int]]:
            out: list[tuple[str, int]] = []
            for state, start, n in ranges:
                uri = state.uri
                out.extend((uri, i) for i in state.perm.many(start, n))
            return out

        return indices() if count <= _INLINE else await asyncio.to_thread(indices)

    async def _reserve(self, state: ListState, count: int) -> tuple[int, int]:
        first, n = await self._storage.reserve(state.record.id, count, state.capacity)
        state.counter = max(state.counter, first + n)
        return first, n

    def _pool_list(self, issuer: str) -> ListState | None:
        """The issuer's oldest automatic list with room."""
        for s in self._lists.by_issuer.get(issuer, ()):
            if s.record.auto and s.capacity > s.counter:
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
            state = await self._lists.insert(self._lists.new_record(issuer, NewList(), auto=True))
            await self._publish_new(state)
            return state


def _short(state: ListState, count: int) -> ConflictError:
    return ConflictError(
        f"list {state.record.id} has {max(0, state.capacity - state.counter)} free entries, "
        f"{count} requested",
        field="count",
    )
