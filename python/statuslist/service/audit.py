"""The audit feed: the change log as an issuer's integrators read it — in sequence order, paged
by a cursor (the last sequence read), scoped to the caller's issuer, optionally long-polled.

A page holds at most ``limit`` changes and about :data:`MAX_PAGE_INDICES` indices (a single
change larger than that comes alone). Its cursor is the last sequence *scanned*, so a feed
filtered to one issuer never re-reads other issuers' rows and never skips its own: every change
has one sequence, and sequences become visible in order (one SQLite writer; PostgreSQL appends
under one lock), so following ``next_after`` sees each change exactly once."""

from __future__ import annotations

import time
from array import array
from dataclasses import dataclass
from typing import Any

from statuslist.service.errors import ValidationError
from statuslist.service.keys import ApiKey, require
from statuslist.service.lists import Lists
from statuslist.service.state import status_name
from statuslist.storage import Change, Storage

__all__ = ["MAX_LIMIT", "MAX_PAGE_INDICES", "MAX_WAIT", "Audit", "Page"]

MAX_LIMIT = 1000
MAX_WAIT = 60.0
MAX_PAGE_INDICES = 100_000
#: Rows of the whole log read per storage call while filtering one issuer's changes.
_SCAN = 1000
#: Rows scanned per request at most, before answering a (possibly empty) page with more=true.
_SCAN_LIMIT = 20_000


@dataclass(frozen=True, slots=True)
class Page:
    changes: list[Change]
    next_after: int
    more: bool


def change_doc(c: Change) -> dict[str, Any]:
    """One change as the feed shows it."""
    return {
        "seq": c.seq,
        "list_id": c.list_id,
        "at": c.at,
        "actor": c.actor,
        "indices": array("Q", c.indices).tolist(),
        "old": list(c.old),
        "new": list(c.new),
        "new_names": sorted({status_name(v) for v in c.new}),
    }


class Audit:
    def __init__(self, storage: Storage, lists: Lists) -> None:
        self._storage = storage
        self._lists = lists

    @staticmethod
    def _check(limit: int, wait: float) -> None:
        if not 1 <= limit <= MAX_LIMIT:
            raise ValidationError(f"limit must be 1..{MAX_LIMIT}", field="limit")
        if not 0 <= wait <= MAX_WAIT:
            raise ValidationError(f"wait must be 0..{MAX_WAIT:g} seconds", field="wait")

    async def list_changes(
        self, caller: ApiKey, list_id: str, after: int, limit: int, wait: float = 0.0
    ) -> Page:
        """The list's changes after ``after`` (the caller's own list only)."""
        require(caller, "read")
        self._check(limit, wait)
        await self._lists.resolve(caller, list_id)
        deadline = time.monotonic() + wait
        while True:
            horizon = await self._storage.wait_changes(0, 0)  # the log's end before reading
            rows = await self._storage.changes(list_id, after, limit + 1)
            if rows or not await self._wait(horizon, deadline):
                return _page(rows, after, limit)

    async def issuer_changes(
        self, caller: ApiKey, after: int, limit: int, wait: float = 0.0
    ) -> Page:
        """Every change to the caller's issuer's lists after ``after``."""
        require(caller, "read")
        self._check(limit, wait)
        deadline = time.monotonic() + wait
        cursor = after
        while True:
            horizon = await self._storage.wait_changes(0, 0)
            found: list[Change] = []
            indices, scanned, full, exhausted = 0, 0, False, False
            while not full and scanned < _SCAN_LIMIT:
                rows = await self._storage.changes_after(cursor, _SCAN)
                for row in rows:
                    if await self._owner(row.list_id) == caller.issuer:
                        n = len(row.indices) // 8
                        if len(found) == limit or (found and indices + n > MAX_PAGE_INDICES):
                            full = True
                            break
                        found.append(row)
                        indices += n
                    cursor = row.seq
                    scanned += 1
                if len(rows) < _SCAN and not full:
                    exhausted = True
                    break
            if found or not exhausted or not await self._wait(horizon, deadline):
                return Page(found, cursor, not exhausted)

    async def _owner(self, list_id: str) -> str | None:
        state = self._lists.find(list_id)
        if state is None and self._storage.shared:  # created on another instance just now
            state = await self._lists.load(list_id)
        if state is not None:
            return state.record.issuer
        damaged = self._lists.damaged.get(list_id)
        return damaged[0] if damaged is not None else None

    async def _wait(self, horizon: int, deadline: float) -> bool:
        """Waits until the log grows past ``horizon`` or ``deadline``; False once it passed."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        await self._storage.wait_changes(horizon, left)
        return True


def _page(rows: list[Change], after: int, limit: int) -> Page:
    """At most ``limit`` rows and about MAX_PAGE_INDICES indices; ``more`` if any are left."""
    out: list[Change] = []
    indices = 0
    for row in rows[:limit]:
        n = len(row.indices) // 8
        if out and indices + n > MAX_PAGE_INDICES:
            break
        out.append(row)
        indices += n
    more = len(out) < len(rows)
    return Page(out, out[-1].seq if out else after, more)
