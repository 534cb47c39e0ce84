"""Entries: reading and setting statuses, and the rules a change must follow.

A batch is checked whole against each list's ``head`` (committed state plus writes in flight):
index ranges, values that fit the list's bits, and on lists with ``final_invalid`` that no INVALID
entry changes again. Only then is it logged (one atomic :meth:`Storage.append`), and once that
is durable it is applied to ``committed`` in the order writes were submitted. A write whose
request goes away still settles: the request awaits its own future, not the storage's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from statuslist.codec import INVALID
from statuslist.config import Settings
from statuslist.exceptions import IndexOutOfRangeError, StorageError
from statuslist.metrics import Metrics
from statuslist.service.commands import ListUpdate, UpdateBatch
from statuslist.service.errors import (
    ConflictError,
    PayloadTooLargeError,
    ValidationError,
)
from statuslist.service.keys import ApiKey, require
from statuslist.service.lists import Lists
from statuslist.service.state import ListState, Pending, get_many
from statuslist.storage import NewChange, Storage

__all__ = ["Entries"]


class Entries:
    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        lists: Lists,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._limits = settings.limits
        self._storage = storage
        self._lists = lists
        self._metrics = metrics
        self._clock = clock
        self._updated: dict[int, Any] = {}

    def get(self, caller: ApiKey, list_id: str, idx: int) -> tuple[ListState, int]:
        """The committed status of entry ``idx``."""
        state = self._lists.get(caller, list_id)
        if not 0 <= idx < state.record.size:
            raise ValidationError(
                f"index must be an integer in [0, {state.record.size}), got {idx}", field="idx"
            )
        return state, state.committed[idx]

    async def update(self, caller: ApiKey, batch: UpdateBatch) -> int:
        """Writes every part of ``batch`` atomically; the number of entries written."""
        require(caller, "write")
        total = batch.size
        if total > self._limits.max_batch:
            raise PayloadTooLargeError(
                f"{total} updates in one batch; the limit is {self._limits.max_batch}"
            )
        states = [self._lists.get(caller, p.list_id, p.list_field) for p in batch.parts]
        olds = [_check(state, part) for state, part in zip(states, batch.parts, strict=True)]
        now = self._clock()
        actor = caller.actor
        changes = [
            NewChange(s.record.id, p.indices.tobytes(), old, p.values, now, actor)
            for s, p, old in zip(states, batch.parts, olds, strict=True)
        ]
        # Submitted and registered with no await in between: the in-flight order of each list
        # is the order its writes reach storage, which commits them in that order.
        pending = [s.submit(p.indices, p.values) for s, p in zip(states, batch.parts, strict=True)]
        fut = asyncio.ensure_future(self._storage.append(changes))
        # The request waits on its own future, so cancelling it never cancels the write's.
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(partial(self._settled, states, pending, waiter))
        await waiter
        for part in batch.parts:
            self._count(part.values)
        return total

    def _settled(
        self,
        states: Sequence[ListState],
        pending: Sequence[Pending],
        waiter: asyncio.Future[None],
        fut: asyncio.Future[list[int]],
    ) -> None:
        now = self._clock()
        error = StorageError("the write was cancelled") if fut.cancelled() else fut.exception()
        if error is not None:
            for state, p in zip(states, pending, strict=True):
                state.failed_write(p, now)
            if not waiter.done():
                waiter.set_exception(error)
            return
        for state, p, seq in zip(states, pending, fut.result(), strict=True):
            state.committed_write(p, seq, now)
        if not waiter.done():
            waiter.set_result(None)

    def _count(self, values: bytes) -> None:
        if len(values) == 1 or values.count(values[0]) == len(values):
            self._counter(values[0]).inc(len(values))
        else:
            for v in set(values):
                self._counter(v).inc(values.count(v))

    def _counter(self, value: int) -> Any:
        """The ``entries_updated`` child of one status value (looked up once)."""
        child = self._updated.get(value)
        if child is None:
            child = self._updated[value] = self._metrics.entries_updated.labels(str(value))
        return child


def _check(state: ListState, part: ListUpdate) -> bytes:
    """Validates ``part`` against ``state``; the entries' current (head) values."""
    r = state.record
    try:
        old = get_many(state.head, part.indices)
    except IndexOutOfRangeError:
        k = next(k for k, i in enumerate(part.indices) if i >= r.size)
        raise ValidationError(
            f"index {part.indices[k]} is outside [0, {r.size})", field=part.field_of(k, "idx")
        ) from None
    top = 1 << r.bits
    if top < 256:
        bad = part.values.translate(None, bytes(range(top)))
        if bad:
            k = part.values.index(bad[0])
            raise ValidationError(
                f"status {part.values[k]} does not fit the list's {r.bits} bit(s) (0..{top - 1})",
                field=part.field_of(k, "status"),
            )
    if r.final_invalid:
        _check_final(part, old)
    return old


def _check_final(part: ListUpdate, old: bytes) -> None:
    """On a list with irreversible INVALID, an INVALID entry may not change again."""
    if INVALID not in old:
        return
    new = part.values
    if new.count(INVALID) == len(new):
        return
    for k, (o, n) in enumerate(zip(old, new, strict=True)):
        if o == INVALID and n != INVALID:
            raise ConflictError(
                f"entry {part.indices[k]} is INVALID and this list makes INVALID final",
                field="status",
            )
