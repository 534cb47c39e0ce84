"""The publisher: re-encodes and re-signs lists that changed, refreshes tokens before they
expire, stores the tokens, and checkpoints bitmaps.

It runs as its own task, one round per ``publish_interval`` (:func:`next_round`: a long round's
successor starts up to a tenth of the interval early, so that the publish lag stays near one
interval). A round takes the lists that
are due, notes the log sequence each has reached, then encodes and signs all of them in one
worker thread (the native calls release the GIL: neither the event loop nor the database writer
waits for them); the tokens are stored, then swapped in and announced to the listeners (the web
layer's served-token cache). A served token therefore only ever shows committed changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import cast

from statuslist.config import Settings
from statuslist.metrics import Metrics
from statuslist.service.keys import IssuerKeys
from statuslist.service.lists import Lists
from statuslist.service.state import ListState, Published
from statuslist.storage import PAGE_BYTES, Checkpoint, Storage, StoredToken
from statuslist.tokens import EncodedClaims, Format, SigningKey, sign_encoded

__all__ = ["Listener", "Publisher", "next_round"]

log = logging.getLogger("statuslist.publisher")

#: Called with the lists just published, before the round that published them ends.
Listener = Callable[[Sequence[Published]], Awaitable[None]]


def next_round(interval: float, took: float) -> float:
    """How long to wait after a round that took ``took`` seconds before the next one starts.

    Rounds start one ``interval`` apart, less what the round took, up to a tenth of the
    interval: a change that just missed a round's snapshot waits for the next one and then for
    its encoding, so starting a long round that much earlier keeps the lag near one interval
    (a 100M-entry list under load takes ~150 ms to re-encode). ``POST …/publish`` publishes at
    once regardless."""
    return max(0.0, interval - min(took, interval / 10) - took)


class Publisher:
    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        lists: Lists,
        keys: IssuerKeys,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._lists = lists
        self._keys = keys
        self._metrics = metrics
        self._clock = clock
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.listeners: list[Listener] = []
        self._announced = asyncio.Event()
        #: Lists that could not be signed (their issuer has no key), by list id: the reason.
        self.unsignable: dict[str, str] = {}
        self.last_error: str | None = None
        #: Whether this instance published in its last round (always, with one instance).
        self.leading = not storage.shared
        #: Run before each round this instance leads (the follower's catch-up of the log).
        self.before_round: Callable[[], Awaitable[None]] | None = None

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="statuslist-publisher")

    async def stop(self) -> None:
        """Stops the loop, then publishes and checkpoints what changed (faster restart)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if not self.leading:
            return
        try:
            await self.publish(force_checkpoint=True)
        except Exception:
            log.exception("the final publish and checkpoint failed; the log replays on start")

    async def _loop(self) -> None:
        interval = self._settings.publish_interval
        while True:
            started = time.monotonic()
            try:
                await self.publish()
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._metrics.publish_failures.inc()
                self.last_error = f"publishing failed: {exc}"
                log.exception("publishing failed; retrying")
            await asyncio.sleep(next_round(interval, time.monotonic() - started))

    async def announce(self, published: Sequence[Published]) -> None:
        for listener in self.listeners:
            await listener(published)
        self._announced.set()  # wakes whoever waits for tokens (publish_list elsewhere)
        self._announced = asyncio.Event()

    # -- a round --------------------------------------------------------------------------------

    def _due(self, now: float) -> list[ListState]:
        refresh = self._settings.token_lifetime / 2
        return [
            s
            for s in list(self._lists.by_id.values())
            if s.dirty or s.published is None or s.published.exp - now < refresh
        ]

    async def leads(self) -> bool:
        """Whether this instance publishes (with several instances: holds the leader's lock)."""
        if self._storage.shared:
            self.leading = await self._storage.lead()
        self._metrics.leading.set(1 if self.leading else 0)
        return self.leading

    async def publish_list(
        self, state: ListState, *, force: bool = False, within: float = 5.0
    ) -> None:
        """Publishes ``state`` now unless it is already published and unchanged (``force``:
        re-sign it regardless, as ``POST …/publish`` asks). A new list is published before its
        uri is handed out; a round that took it meanwhile is enough. On an instance that does
        not lead, the leader is asked to, and this waits until the new tokens have arrived (from
        the follower) or ``within`` seconds have passed."""
        if await self.leads():
            if force:
                state.dirty = True
            await self.publish([state])
            return
        if state.published is not None and not force and not state.dirty:
            return
        before = state.published
        await self._storage.request_publish(state.record.id)
        deadline = time.monotonic() + within
        while state.published is before:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._announced.wait(), left)

    async def publish(
        self, only: Sequence[ListState] | None = None, *, force_checkpoint: bool = False
    ) -> None:
        if not await self.leads():
            return
        async with self._lock:
            if self.before_round is not None:
                await self.before_round()
            t0 = time.perf_counter()
            if only is not None:  # those a round has not published meanwhile
                due = [s for s in only if s.dirty or s.published is None]
            else:
                due = self._due(self._clock())
            if due:
                await self._publish(due)
                self._metrics.publish_duration.observe(time.perf_counter() - t0)
            await self._checkpoint(force_checkpoint)
            self._metrics.commits.set(self._storage.commits)
            self._metrics.writes.set(self._storage.writes)

    def check_signable(self, lists: Iterable[ListState]) -> None:
        """Notes (for ``/readyz``) each list whose issuer has no signing key now, and forgets
        those that have one again; a reload calls it, so the answer does not wait for the
        list's next publish."""
        for s in lists:
            r = s.record
            if self._keys.signer(r.issuer) is None:
                self.unsignable[r.id] = f"issuer {r.issuer!r} of list {r.id} has no signing key"
            else:
                self.unsignable.pop(r.id, None)

    async def _publish(self, due: Sequence[ListState]) -> None:
        jobs: list[tuple[ListState, SigningKey]] = []
        snaps: list[tuple[ListState, int, float | None]] = []
        for s in due:
            r = s.record
            key = self._keys.signer(r.issuer)
            if key is None:
                if r.id not in self.unsignable:
                    log.error("issuer %s of list %s has no signing key", r.issuer, r.id)
                self.unsignable[r.id] = f"issuer {r.issuer!r} of list {r.id} has no signing key"
                continue
            self.unsignable.pop(r.id, None)
            # The tokens show at least every change up to last_seq (later ones may slip in).
            snaps.append((s, s.last_seq, s.unpublished_since))
            s.dirty, s.unpublished_since = False, None
            jobs.append((s, key.signer))
        if not snaps:
            return
        iat = int(self._clock())
        exp = iat + self._settings.token_lifetime
        keys, lists = self._keys, self._lists

        def encode_and_sign() -> list[bytes]:
            signing: list[tuple[SigningKey, EncodedClaims, Format]] = []
            for s, signer in jobs:
                r = s.record
                claims = EncodedClaims(
                    sub=s.uri,
                    iat=iat,
                    bits=r.bits,
                    lst=s.committed.encode(),
                    exp=exp,
                    ttl=r.ttl,
                    iss=keys.iss(r.issuer),
                    aggregation_uri=lists.aggregation_uri(r.issuer),
                )
                signing.extend((signer, claims, cast(Format, fmt)) for fmt in r.formats)
            return sign_encoded(signing)

        try:
            bodies = await asyncio.to_thread(encode_and_sign)
            it = iter(bodies)
            tokens: list[StoredToken] = []
            built: list[tuple[ListState, float | None, Published]] = []
            for s, seq, since in snaps:
                r = s.record
                per_fmt = {
                    fmt: StoredToken(r.id, fmt, next(it), iat, exp, seq) for fmt in r.formats
                }
                tokens.extend(per_fmt.values())
                built.append((s, since, Published(r.id, iat, exp, r.ttl, seq, per_fmt)))
            retention = self._settings.history_retention
            await self._storage.save_tokens(
                tokens, archive_until=self._clock() - retention if retention > 0 else None
            )
        except BaseException:
            for s, _, since in snaps:
                s.dirty = True
                if since is not None and (
                    s.unpublished_since is None or since < s.unpublished_since
                ):
                    s.unpublished_since = since
            raise
        for s, _, pub in built:
            s.published = pub
        await self.announce([pub for _, _, pub in built])
        done = self._clock()
        for _, since, _ in built:
            if since is not None:
                self._metrics.publish_lag.observe(max(0.0, done - since))
        self._metrics.publishes.inc(len(tokens))

    async def _checkpoint(self, force: bool) -> None:
        now = time.monotonic()
        interval = self._settings.checkpoint_interval
        due = [
            s
            for s in list(self._lists.by_id.values())
            if s.last_seq > s.checkpoint_seq and (force or now - s.checkpointed_at >= interval)
        ]
        if not due:
            return
        # Noted before the bitmaps are read: the pages show at least every change up to seq, and
        # replaying the log after seq over them on start gives the same bitmap.
        marks = [(s, s.last_seq, s.dirty_pages) for s in due]
        for s in due:
            s.dirty_pages = set()

        def pages() -> list[Checkpoint]:
            out = []
            for s, seq, dirty in marks:
                # Page by page: a whole-list copy would be one more bitmap's worth of memory.
                bitmap = s.committed
                size = -(-len(bitmap) * bitmap.bits // 8)
                numbers = range(-(-size // PAGE_BYTES)) if dirty is None else sorted(dirty)
                copies = {n: bitmap.to_bytes(n * PAGE_BYTES, PAGE_BYTES) for n in numbers}
                out.append(Checkpoint(s.record.id, copies, seq))
            return out

        try:
            items = await asyncio.to_thread(pages)
            await self._storage.checkpoint(items)
        except BaseException:
            for s, _, dirty in marks:
                if dirty is None or s.dirty_pages is None:
                    s.dirty_pages = None
                else:
                    s.dirty_pages |= dirty
            raise
        for s, seq, _ in marks:
            s.checkpoint_seq, s.checkpointed_at = max(s.checkpoint_seq, seq), now
