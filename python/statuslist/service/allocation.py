"""Allocation: fresh entries for credentials, never handed out twice.

Each list's allocation counter lives in the database: :meth:`Storage.reserve` bumps it atomically
and hands this caller a range of counter values no other request or instance gets; the list's
keyed permutation turns counter values into random-looking indices. Requests without a list draw
from the issuer's automatic lists, oldest first, and create a new one when all are full.
"""

from __future__ import annotations

import asyncio
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

#: Up to this many indices are computed on the event loop; more in a worker thread (where the
#: native permutation runs without the GIL, so concurrent allocations compute in parallel).
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
        #: Automatic lists created here and not yet published: registered (so visible to
        #: ``_pool_list``) but nothing may be handed out from them yet.
        self._unpublished: set[str] = set()

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
        return Reserved(tuple(ranges))

    async def _reserve(self, state: ListState, count: int) -> tuple[int, int]:
        first, n = await self._storage.reserve(state.record.id, count, state.capacity)
        state.counter = max(state.counter, first + n)
        return first, n

    def _pool_list(self, issuer: str) -> ListState | None:
        """The issuer's oldest automatic list with room."""
        for s in self._lists.by_issuer.get(issuer, ()):
            if s.record.auto and s.capacity > s.counter and s.record.id not in self._unpublished:
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


def _short(state: ListState, count: int) -> ConflictError:
    return ConflictError(
        f"list {state.record.id} has {max(0, state.capacity - state.counter)} free entries, "
        f"{count} requested",
        field="count",
    )
