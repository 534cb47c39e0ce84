"""What the service holds in memory per list, and the status names.

A :class:`ListState` has two native bitmaps: ``committed`` (every durable change, applied in log
order once it committed: what readers, the publisher and checkpoints see) and ``head``
(``committed`` plus the batch being committed: what the writes of that batch are validated
against one after the other). Both change only on the event loop.
"""

from __future__ import annotations

import time
from array import array
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from statuslist.codec import INVALID, SUSPENDED, VALID, StatusList
from statuslist.service.permutation import IndexPermutation
from statuslist.storage import PAGE_BYTES, ListRecord, StoredToken

__all__ = [
    "STATUS_NAMES",
    "ListState",
    "Pending",
    "Published",
    "get_many",
    "set_many",
    "status_name",
]

STATUS_NAMES = {"VALID": VALID, "INVALID": INVALID, "SUSPENDED": SUSPENDED}
VALUE_NAMES = {v: k for k, v in STATUS_NAMES.items()}
#: Writes of at most this many entries mark their checkpoint pages one by one; larger ones mark
#: the whole list (cheaper than looking at every index on the event loop).
_EXACT_PAGES = 256


#: Up to this many entries are read and written one by one: a bulk native call releases the GIL,
#: and on the event loop each release lets the database writer take it (a convoy that halved the
#: single-write rate); the O(1) calls stay attached.
_ATTACHED = 64


def get_many(sl: StatusList, indices: array[int]) -> bytes:
    n = len(indices)
    if n == 1:
        return _BYTES[sl[indices[0]]]
    if n <= _ATTACHED:
        return bytes([sl[i] for i in indices])
    return sl.get_many(indices)


def set_many(sl: StatusList, indices: array[int], values: bytes) -> None:
    n = len(indices)
    if n == 1 and len(values) == 1:
        sl[indices[0]] = values[0]
    elif n <= _ATTACHED:
        for i, v in zip(indices, values, strict=True):
            sl[i] = v
    else:
        sl.set_many(indices, values)


#: One byte per value (``bytes([v])`` without building a list).
_BYTES = [bytes([v]) for v in range(256)]


def status_name(value: int) -> str:
    return VALUE_NAMES.get(value, f"0x{value:02X}")


@dataclass(frozen=True, slots=True)
class Published:
    """The signed tokens of one list as last published: one per format, all of one ``iat``."""

    list_id: str
    iat: int
    exp: int
    ttl: int
    seq: int  # every change up to this log sequence is in the tokens
    tokens: Mapping[str, StoredToken] = field(repr=False)


@dataclass(slots=True)
class Pending:
    """A committed change to apply: its entries, new values and log sequence number."""

    indices: array[int]
    new: bytes
    seq: int = 0


class ListState:
    """One list in memory."""

    __slots__ = (
        "ahead",
        "ahead_count",
        "checkpoint_seq",
        "checkpointed_at",
        "committed",
        "counter",
        "dirty",
        "dirty_pages",
        "head",
        "inflight",
        "last_seq",
        "perm",
        "published",
        "queue",
        "record",
        "unpublished_since",
        "uri",
    )

    def __init__(self, record: ListRecord, committed: StatusList, uri: str) -> None:
        self.record = record
        self.committed = committed
        self.head = committed.copy()
        self.uri = uri
        self.perm = IndexPermutation(record.perm_key, record.size)
        self.queue: deque[Any] = deque()  # writes waiting for their batch (entries.Write)
        #: The accepted writes of each batch of this list being committed, oldest first.
        self.inflight: list[list[Any]] = []
        self.counter = 0  # allocation counter as last reserved by this instance
        #: Counter values this instance reserved durably and has not handed out yet, as
        #: ``(first, end)`` ranges (see ``service/allocation.py``), and how many they hold.
        self.ahead: deque[tuple[int, int]] = deque()
        self.ahead_count = 0
        self.last_seq = 0  # the last change applied to ``committed``
        self.checkpoint_seq = 0
        self.checkpointed_at = time.monotonic()
        self.dirty_pages: set[int] | None = set()  # None: every page
        self.dirty = True  # changed since the last publish
        self.published: Published | None = None
        self.unpublished_since: float | None = None

    @property
    def capacity(self) -> int:
        return self.record.size - self.record.decoys

    @property
    def allocated(self) -> int:
        """Counter values used up: handed out, or reserved by another instance, or skipped
        (reserved ahead by an instance that then stopped)."""
        return self.counter - self.ahead_count

    @property
    def free(self) -> int:
        """Entries this instance can still hand out: never reserved, or reserved ahead here."""
        return max(0, self.capacity - self.counter) + self.ahead_count

    # -- the write pipeline (event loop only; see service/entries.py) --------------------------

    @property
    def busy(self) -> bool:
        """A batch of this list is being committed."""
        return bool(self.inflight)

    def reset_head(self) -> None:
        """``head`` back to ``committed`` plus the batches still in flight (one did not
        commit)."""
        self.head = self.committed.copy()
        for batch in self.inflight:
            for write in batch:
                for state, part in zip(write.states, write.parts, strict=True):
                    if state is self:
                        set_many(self.head, part.indices, part.values)

    def apply(self, change: Pending, now: float) -> None:
        """A committed change written elsewhere and read from the log into ``committed`` (and
        ``head``); this instance's own writes go in with :meth:`apply_own`."""
        if change.seq <= self.last_seq:
            return
        set_many(self.head, change.indices, change.new)
        self.apply_own(change.indices, change.new, change.seq, now)

    def apply_own(self, indices: array[int], values: bytes, seq: int, now: float) -> None:
        """One of this instance's writes (already in ``head``), committed as ``seq``, into
        ``committed``."""
        if seq <= self.last_seq:
            return
        set_many(self.committed, indices, values)
        self.last_seq = seq
        self.dirty = True
        if self.unpublished_since is None:
            self.unpublished_since = now
        self.mark_pages(indices)

    def mark_pages(self, indices: array[int]) -> None:
        pages = self.dirty_pages
        if pages is None:
            return
        if len(indices) == 1:
            pages.add(indices[0] // (PAGE_BYTES * 8 // self.record.bits))
            return
        if len(indices) > _EXACT_PAGES:
            self.dirty_pages = None
            return
        per_page = PAGE_BYTES * 8 // self.record.bits
        pages.update(i // per_page for i in indices)
