"""What the service holds in memory per list, and the status names.

A :class:`ListState` has two native bitmaps: ``committed`` (every durable change, applied in log
order once it committed: what readers, the publisher and checkpoints see) and ``head``
(``committed`` plus the writes still in flight: what the next write is validated against, so a
rule such as final INVALID holds while earlier writes are still committing). Both change only on
the event loop.
"""

from __future__ import annotations

import time
from array import array
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

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
    if len(indices) <= _ATTACHED:
        return bytes([sl[i] for i in indices])
    return sl.get_many(indices)


def set_many(sl: StatusList, indices: array[int], values: bytes) -> None:
    if len(indices) <= _ATTACHED:
        for i, v in zip(indices, values, strict=True):
            sl[i] = v
    else:
        sl.set_many(indices, values)


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
    """A write of one list submitted to storage and not yet settled."""

    indices: array[int]
    new: bytes
    seq: int = 0
    committed: bool = False


class ListState:
    """One list in memory."""

    __slots__ = (
        "checkpoint_seq",
        "checkpointed_at",
        "committed",
        "counter",
        "dirty",
        "dirty_pages",
        "head",
        "in_flight",
        "last_seq",
        "perm",
        "published",
        "record",
        "unpublished_since",
        "uri",
    )

    def __init__(self, record: ListRecord, committed: StatusList, uri: str) -> None:
        self.record = record
        self.committed = committed
        self.head = StatusList.from_bytes(committed.to_bytes(), record.bits)
        self.uri = uri
        self.perm = IndexPermutation(record.perm_key, record.size)
        self.in_flight: deque[Pending] = deque()
        self.counter = 0  # allocation counter as last reserved by this instance
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

    # -- the write pipeline (event loop only) ---------------------------------------------------

    def submit(self, indices: array[int], new: bytes) -> Pending:
        """Registers a write about to be submitted to storage and applies it to ``head``."""
        pending = Pending(indices, new)
        self.in_flight.append(pending)
        set_many(self.head, indices, new)
        return pending

    def committed_write(self, pending: Pending, seq: int, now: float) -> None:
        """``pending`` is durable as ``seq``: applies it, and every committed write queued
        before it, to ``committed`` in submission order (which is their commit order)."""
        pending.seq, pending.committed = seq, True
        while self.in_flight and self.in_flight[0].committed:
            self.apply(self.in_flight.popleft(), now, own=True)

    def failed_write(self, pending: Pending, now: float) -> None:
        """``pending`` did not commit: ``head`` is rebuilt without it."""
        self.in_flight.remove(pending)
        self.head = StatusList.from_bytes(self.committed.to_bytes(), self.record.bits)
        for p in self.in_flight:
            set_many(self.head, p.indices, p.new)
        while self.in_flight and self.in_flight[0].committed:
            self.apply(self.in_flight.popleft(), now, own=True)

    def apply(self, change: Pending, now: float, *, own: bool = False) -> None:
        """A committed change into ``committed``: one of this instance's writes (already in
        ``head``), or one written elsewhere and read from the log (applied to ``head`` too)."""
        if change.seq <= self.last_seq:
            return
        set_many(self.committed, change.indices, change.new)
        if not own:
            set_many(self.head, change.indices, change.new)
        self.last_seq = change.seq
        self.dirty = True
        if self.unpublished_since is None:
            self.unpublished_since = now
        self.mark_pages(change.indices)

    def mark_pages(self, indices: array[int]) -> None:
        if self.dirty_pages is None:
            return
        if len(indices) > _EXACT_PAGES:
            self.dirty_pages = None
            return
        per_page = PAGE_BYTES * 8 // self.record.bits
        self.dirty_pages.update(i // per_page for i in indices)
