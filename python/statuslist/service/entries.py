"""Entries: reading and setting statuses, and the rules a change must follow.

Writes to a list are committed in **batches**, one batch per list at a time: while a batch is
being committed, new writes queue; when it is done, every queued write that touches only that
list forms the next batch (a write spanning several lists waits until it heads each of their
queues and goes alone). A batch is validated write by write against the list's ``head``
(committed state plus the writes accepted before it in the batch): index ranges, values that
fit the list's bits, and on lists with ``final_invalid`` that no INVALID entry changes again.
A refused write is answered at once; the others are logged in one atomic
:meth:`Storage.append`. Once that is durable the changes are applied to ``committed`` and the
requests answered.

With several instances on one database, a list whose rules depend on current values (final
INVALID) is appended with the expectation that it is where this instance last saw it; when
another instance wrote it meanwhile the append is refused, the instance reads the list's log up
to now, and validates and submits the same writes again — so final INVALID holds across
instances. Other lists' writes are valid whatever was written meanwhile: they are appended
without expectation and, once committed, the list's log is read up to them so that memory
applies every instance's changes in log order. (Their logged old values are those this instance
knew: exact unless two instances write the same entry at the same moment.)

Requests wait on their own futures: a request that goes away never cancels a batch.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from statuslist.codec import INVALID
from statuslist.config import Settings
from statuslist.exceptions import IndexOutOfRangeError, ServiceError, StorageError
from statuslist.metrics import Metrics
from statuslist.service.commands import ListUpdate, UpdateBatch
from statuslist.service.errors import (
    ConflictError,
    PayloadTooLargeError,
    UnavailableError,
    ValidationError,
)
from statuslist.service.keys import ApiKey, require
from statuslist.service.lists import Lists
from statuslist.service.state import ListState, Pending, get_many, set_many
from statuslist.storage import NewChange, StaleWriteError, Storage

__all__ = ["Entries"]

log = logging.getLogger("statuslist.entries")

#: A batch takes at most this many writes (and never more entries than ``max_batch``).
_BATCH_WRITES = 4096
#: One byte per status value (``bytes([v])`` without building it).
_BYTES = [bytes([v]) for v in range(256)]
#: How often a write is retried after another instance changed its list meanwhile.
_RETRIES = 50
#: Batches of one list in flight at once with a single-writer backend (it commits them in order,
#: so the next can be validated and queued while the last one's fsync runs); shared backends
#: take one at a time (a batch's expectation is the state the one before left).
_PIPELINE = 3


@dataclass(slots=True, eq=False)
class Write:
    """One request's changes, waiting for (or part of) a batch."""

    actor: str
    parts: Sequence[ListUpdate]
    states: Sequence[ListState]
    waiter: asyncio.Future[int]
    size: int
    tries: int = 0
    olds: list[bytes] = field(default_factory=list)


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
        self._tasks: set[asyncio.Task[None]] = set()
        self._forming: set[str] = set()  # lists whose next batch is about to form

    async def get(self, caller: ApiKey, list_id: str, idx: int) -> tuple[ListState, int]:
        """The committed status of entry ``idx`` (with several instances: as of now)."""
        state = await self._lists.resolve(caller, list_id)
        if not 0 <= idx < state.record.size:
            raise ValidationError(
                f"index must be an integer in [0, {state.record.size}), got {idx}", field="idx"
            )
        if self._storage.shared:
            await self.catch_up(state)
        return state, state.committed[idx]

    async def catch_up(self, state: ListState) -> None:
        """Applies what other instances logged for ``state`` that this one has not seen."""
        while True:
            changes = await self._storage.changes(state.record.id, state.last_seq, 10_000)
            now = self._clock()
            for c in changes:
                state.apply(Pending(array("Q", c.indices), c.new, c.seq), now)
            if len(changes) < 10_000:
                return

    async def update(self, caller: ApiKey, batch: UpdateBatch) -> int:
        """Writes every part of ``batch`` atomically; the number of entries written."""
        require(caller, "write")
        total = batch.size
        if total > self._limits.max_batch:
            raise PayloadTooLargeError(
                f"{total} updates in one batch; the limit is {self._limits.max_batch}"
            )
        parts = batch.parts
        if self._storage.shared:  # a list another instance just created is loaded first
            states = [await self._lists.resolve(caller, p.list_id, p.list_field) for p in parts]
        else:
            states = [self._lists.get(caller, p.list_id, p.list_field) for p in parts]
        for state, part in zip(states, parts, strict=True):
            _check_shape(state, part)  # refused before it queues
        loop = asyncio.get_running_loop()
        write = Write(caller.actor, parts, states, loop.create_future(), total)
        for state in states:
            state.queue.append(write)
        for state in states:
            self._kick(state)
        await write.waiter
        for part in batch.parts:
            self._count(part.values)
        return total

    async def set_one(self, caller: ApiKey, state: ListState, idx: int, value: int) -> None:
        """:meth:`update` of one entry of one list the caller resolved (``PUT …/entries/{idx}``):
        the same rules and the same batches, without building a general batch first."""
        require(caller, "write")
        r = state.record
        part = ListUpdate(r.id, array("Q", (idx,)), _BYTES[value], "single")
        if idx >= r.size or value >> r.bits:
            _check_shape(state, part)  # raises, with the message a batch would get
        waiter = asyncio.get_running_loop().create_future()
        write = Write(caller.actor, (part,), (state,), waiter, 1)
        state.queue.append(write)
        self._kick(state)
        await waiter
        self._counter(value).inc()

    # -- batches ----------------------------------------------------------------------------

    def _kick(self, state: ListState) -> None:
        """Starts the list's next batch: with a single writer after the writes that arrive in
        this turn of the event loop have queued too, so that they share it."""
        if self._storage.shared:  # one batch in flight: the next gathers while it commits
            self._form(state)
            return
        if state.record.id in self._forming:
            return
        self._forming.add(state.record.id)
        asyncio.get_running_loop().call_soon(self._form, state)

    def _form(self, state: ListState) -> None:
        """Starts the list's next batch if it may have another one in flight."""
        self._forming.discard(state.record.id)
        limit = 1 if self._storage.shared else _PIPELINE
        if len(state.inflight) >= limit or not state.queue:
            return
        first: Write = state.queue[0]
        if len(first.states) > 1:
            if any(s.busy or s.queue[0] is not first for s in first.states):
                return  # it goes alone, when it heads its lists' queues and they are idle
            for s in first.states:
                s.queue.popleft()
            writes = [first]
        else:
            writes, entries = [], 0
            while state.queue and len(writes) < _BATCH_WRITES:
                w = state.queue[0]
                if len(w.states) > 1 or (writes and entries + w.size > self._limits.max_batch):
                    break
                writes.append(state.queue.popleft())
                entries += w.size
        involved = list(writes[0].states)
        batch: list[Write] = []  # its accepted writes, once validated
        for s in involved:
            s.inflight.append(batch)
        if self._storage.shared:  # may have to catch up and retry: a task of its own
            task = asyncio.create_task(self._commit(involved, writes, batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        # One writer: validated and submitted now, applied from the append's callback.
        try:
            if not self._validate(writes, batch):
                self._finish(involved, batch)
                return
            fut = asyncio.ensure_future(self._storage.append(*self._changes(involved, batch)))
        except Exception as exc:  # never leave a request waiting
            self._abandon(involved, writes, batch, exc)
            return
        fut.add_done_callback(partial(self._settled, involved, batch))

    def _settled(
        self, states: list[ListState], batch: list[Write], fut: asyncio.Future[list[int]]
    ) -> None:
        try:
            error = StorageError("the write was cancelled") if fut.cancelled() else fut.exception()
            if error is not None:
                for s in states:
                    s.inflight.remove(batch)
                    s.reset_head()
                for w in batch:
                    _fail(w, error)
            else:
                self._apply(batch, fut.result())
        except Exception as exc:
            self._abandon(states, batch, batch, exc)
        finally:
            self._finish(states, batch)

    def _finish(self, states: list[ListState], batch: list[Write]) -> None:
        for s in states:
            if batch in s.inflight:
                s.inflight.remove(batch)
        for s in states:
            self._kick(s)

    def _abandon(
        self, states: list[ListState], writes: list[Write], batch: list[Write], exc: BaseException
    ) -> None:
        log.error("a write batch failed", exc_info=exc)
        err = exc if isinstance(exc, ServiceError | StorageError) else StorageError(str(exc))
        for w in writes:
            _fail(w, err)
        for s in states:
            if batch in s.inflight:
                s.inflight.remove(batch)
            s.reset_head()
        self._finish(states, batch)

    def _validate(self, writes: list[Write], accepted: list[Write]) -> list[Write]:
        """Checks each write against ``head`` (which then takes it); the accepted ones."""
        for w in writes:
            if w.waiter.done():  # its request went away before the batch formed
                continue
            try:
                if len(w.parts) == 1:  # the common case, without the zips
                    s, p = w.states[0], w.parts[0]
                    w.olds = [_check(s, p)]
                else:
                    w.olds = [_check(s, p) for s, p in zip(w.states, w.parts, strict=True)]
            except ServiceError as err:
                _fail(w, err)
                continue
            for s, p in zip(w.states, w.parts, strict=True):
                set_many(s.head, p.indices, p.values)
            accepted.append(w)
        return accepted

    def _changes(
        self, states: list[ListState], accepted: list[Write]
    ) -> tuple[list[NewChange], dict[str, int]]:
        now = self._clock()
        changes = [
            NewChange(s.record.id, p.indices.tobytes(), old, p.values, now, w.actor)
            for w in accepted
            for s, p, old in zip(w.states, w.parts, w.olds, strict=True)
        ]
        # Only the final-INVALID rule depends on current values: other lists' writes are valid
        # whatever another instance wrote meanwhile, so with several instances they expect
        # nothing and never retry.
        expect = {s.record.id: s.last_seq for s in states if self._strict(s)}
        return changes, expect

    def _strict(self, state: ListState) -> bool:
        return state.record.final_invalid or not self._storage.shared

    def _apply(self, accepted: list[Write], seqs: list[int]) -> None:
        it = iter(seqs)
        now = self._clock()
        for w in accepted:
            if len(w.parts) == 1:
                p = w.parts[0]
                w.states[0].apply_own(p.indices, p.values, next(it), now)
            else:
                for s, p in zip(w.states, w.parts, strict=True):
                    s.apply_own(p.indices, p.values, next(it), now)
            if not w.waiter.done():
                w.waiter.set_result(w.size)

    async def _commit(
        self, states: list[ListState], writes: list[Write], batch: list[Write]
    ) -> None:
        """A batch of a shared backend's list (see the module docstring)."""
        try:
            await self._commit_batch(states, writes, batch)
        except Exception as exc:  # never leave a request waiting
            self._abandon(states, writes, batch, exc)
            return
        self._finish(states, batch)

    async def _commit_batch(
        self, states: list[ListState], writes: list[Write], batch: list[Write]
    ) -> None:
        accepted = self._validate(writes, batch)
        if not accepted:
            return
        changes, expect = self._changes(states, accepted)
        try:
            seqs = await self._storage.append(changes, expect)
        except StaleWriteError:
            self._metrics.write_retries.inc()
            for s in states:
                s.inflight.remove(batch)
                s.reset_head()
            tries = max(w.tries for w in accepted)
            if tries:  # contended: let the other instances' batches through first
                await asyncio.sleep(random.uniform(0, min(0.05, 0.002 * tries)))  # noqa: S311
            for s in states:
                await self.catch_up(s)
            retry = [w for w in accepted if not w.waiter.done()]
            for w in reversed(retry):
                w.tries += 1
                if w.tries > _RETRIES:
                    _fail(w, UnavailableError("the list is too busy on other instances; retry"))
                    continue
                for s in w.states:
                    s.queue.appendleft(w)
            return
        except StorageError as err:
            for s in states:
                s.inflight.remove(batch)
                s.reset_head()
            for w in accepted:
                _fail(w, err)
            return
        # Changes another instance logged before these are applied first, in log order (the
        # catch-up applies these too; applying them again below does nothing).
        for s in states:
            if not self._strict(s):
                await self.catch_up(s)
        self._apply(accepted, seqs)

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


def _fail(w: Write, err: BaseException) -> None:
    if not w.waiter.done():
        w.waiter.set_exception(err)


def _check_shape(state: ListState, part: ListUpdate) -> None:
    """What does not depend on the entries' current values: index range, values that fit."""
    r = state.record
    # Large batches have their indices checked by the native read of their old values.
    n = len(part.indices)
    if n == 1:
        k = 0 if part.indices[0] >= r.size else None
    elif n <= 64:
        k = next((k for k, i in enumerate(part.indices) if i >= r.size), None)
    else:
        k = None
    if k is not None:
        raise ValidationError(
            f"index {part.indices[k]} is outside [0, {r.size})", field=part.field_of(k, "idx")
        )
    top = 1 << r.bits
    if top < 256:
        bad = part.values.translate(None, bytes(range(top)))
        if bad:
            k = part.values.index(bad[0])
            raise ValidationError(
                f"status {part.values[k]} does not fit the list's {r.bits} bit(s) (0..{top - 1})",
                field=part.field_of(k, "status"),
            )


def _check(state: ListState, part: ListUpdate) -> bytes:
    """Validates ``part`` against ``state``'s head (after :func:`_check_shape`); the entries'
    current values."""
    r = state.record
    try:
        old = get_many(state.head, part.indices)
    except IndexOutOfRangeError:
        k = next(k for k, i in enumerate(part.indices) if i >= r.size)
        raise ValidationError(
            f"index {part.indices[k]} is outside [0, {r.size})", field=part.field_of(k, "idx")
        ) from None
    if r.final_invalid:
        _check_final(part, old)
    return old


def _check_final(part: ListUpdate, old: bytes) -> None:
    """On a list with irreversible INVALID, an INVALID entry may not change again — including
    an entry that an earlier update of the same batch makes INVALID."""
    new = part.values
    if new.count(INVALID) == len(new) or (INVALID not in old and INVALID not in new):
        return
    revoked: set[int] = set()
    for k, (o, n) in enumerate(zip(old, new, strict=True)):
        i = part.indices[k]
        if n == INVALID:
            revoked.add(i)
        elif o == INVALID or i in revoked:
            raise ConflictError(
                f"entry {i} is INVALID and this list makes INVALID final",
                field=part.field_of(k, "status"),
            )
