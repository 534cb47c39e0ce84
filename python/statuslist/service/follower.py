"""The follower: with several instances on one database, keeps this instance's memory up with
what the others write — new lists, the change log, the tokens the leader publishes — and
hands publish requests to the publisher when this instance leads.

It wakes on the database's news (``Storage.wait_event``: LISTEN/NOTIFY for PostgreSQL) and
re-reads everything every few seconds besides, so a lost notification costs seconds, not
correctness. Every instance therefore serves the tokens the leader stored: the same bytes and
ETags everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from array import array
from collections.abc import Callable

from statuslist.service.lists import Lists
from statuslist.service.publisher import Publisher
from statuslist.service.state import Pending, Published
from statuslist.storage import Storage, StoredToken

__all__ = ["Follower"]

log = logging.getLogger("statuslist.follower")

#: Everything is re-read at least this often, notifications or not.
RESYNC = 5.0
#: News is read at most this often: under a stream of writes one read takes many commits (each
#: notifies), instead of one query per commit on every instance.
COALESCE = 0.05
_PAGE = 10_000


class Follower:
    def __init__(
        self,
        storage: Storage,
        lists: Lists,
        publisher: Publisher,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._storage = storage
        self._lists = lists
        self._publisher = publisher
        self._clock = clock
        self.cursor = 0  # the change log is applied up to here
        self.version = 0  # tokens are read up to this version
        self._lock = asyncio.Lock()
        self._refresh_lock = asyncio.Lock()
        self._refreshed = 0.0
        self._unknown: dict[str, float] = {}  # ids a refresh did not find, and when
        self._task: asyncio.Task[None] | None = None
        self.last_error: str | None = None

    def start(self, cursor: int, version: int) -> None:
        self.cursor, self.version = cursor, version
        self._task = asyncio.create_task(self._loop(), name="statuslist-follower")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        last_full = last_read = 0.0
        while True:
            try:
                wait = COALESCE - (time.monotonic() - last_read)
                if wait > 0:
                    await asyncio.sleep(wait)
                events = await self._storage.wait_event(1.0)
                last_read = time.monotonic()
                full = time.monotonic() - last_full >= RESYNC
                if full:
                    last_full = time.monotonic()
                await self.sync(
                    lists=full or "lists" in events,
                    changes=full or "changes" in events,
                    tokens=full or "tokens" in events,
                )
                for event in sorted(e for e in events if e.startswith("publish:")):
                    await self._publish_request(event.partition(":")[2])
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = f"following the database failed: {exc}"
                log.warning("following the database failed: %s", exc)
                await asyncio.sleep(1.0)

    async def _publish_request(self, list_id: str) -> None:
        if not await self._publisher.leads():
            return
        state = self._lists.find(list_id) or await self._lists.load(list_id)
        if state is not None:
            await self._publisher.publish_list(state, force=True)  # asked: re-sign

    async def find(self, list_id: str) -> bool:
        """For a request about a list this instance does not know, or has no tokens of: reads
        the database now and says whether it helped. Concurrent callers share one read; an id
        found nowhere is not looked for again for a second (requests for made-up ids cost one
        read a second, not one each)."""
        now = time.monotonic()
        if now - self._unknown.get(list_id, -10.0) < 1.0:
            return False
        async with self._refresh_lock:
            if self._refreshed < now:  # nobody read since this request came in
                await self.sync()
                self._refreshed = time.monotonic()
        state = self._lists.find(list_id)
        if state is None or state.published is None:
            if len(self._unknown) >= 10_000:
                self._unknown.clear()
            self._unknown[list_id] = time.monotonic()
            return False
        self._unknown.pop(list_id, None)
        return True

    async def sync(self, *, lists: bool = True, changes: bool = True, tokens: bool = True) -> None:
        """Reads what other instances wrote since the last sync and applies it."""
        async with self._lock:
            if lists:
                for list_id in set(await self._storage.list_ids()) - self._lists.by_id.keys():
                    await self._lists.load(list_id)
            if changes:
                await self._changes()
            if tokens:
                await self._tokens()

    async def _changes(self) -> None:
        while True:
            batch = await self._storage.changes_after(self.cursor, _PAGE)
            now = self._clock()
            for c in batch:
                state = self._lists.find(c.list_id) or await self._lists.load(c.list_id)
                if state is not None:  # a freshly loaded list already holds the change
                    state.apply(Pending(array("Q", c.indices), c.new, c.seq), now)
                self.cursor = c.seq
            if len(batch) < _PAGE:
                return

    async def _tokens(self) -> None:
        version, tokens = await self._storage.tokens_after(self.version)
        self.version = version
        by_list: dict[str, dict[str, StoredToken]] = {}
        for t in tokens:
            by_list.setdefault(t.list_id, {})[t.fmt] = t
        fresh = []
        for list_id, per_fmt in by_list.items():
            state = self._lists.find(list_id) or await self._lists.load(list_id)
            if state is None or set(per_fmt) != set(state.record.formats):
                continue
            current = state.published
            first = next(iter(per_fmt.values()))
            if current is not None and all(
                current.tokens.get(f) is not None and current.tokens[f].body == t.body
                for f, t in per_fmt.items()
            ):
                continue  # this instance published them itself
            seq = min(t.seq for t in per_fmt.values())
            state.published = Published(
                list_id, first.iat, first.exp, state.record.ttl, seq, per_fmt
            )
            if seq >= state.last_seq:
                state.dirty, state.unpublished_since = False, None
            fresh.append(state.published)
        if fresh:
            await self._publisher.announce(fresh)
