"""The service: wires lists, entries, allocation, the publisher and keys over one storage, and
runs their life cycle. No HTTP here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence

from statuslist.config import Settings
from statuslist.exceptions import StatusListError
from statuslist.metrics import Metrics
from statuslist.service.allocation import Allocator
from statuslist.service.audit import Audit
from statuslist.service.commands import NewList
from statuslist.service.entries import Entries
from statuslist.service.errors import ListDamagedError, UnavailableError
from statuslist.service.follower import Follower
from statuslist.service.keys import ApiKey, ApiKeys, IssuerKeys, bootstrap, require
from statuslist.service.lists import Lists
from statuslist.service.publisher import Listener, Publisher
from statuslist.service.state import ListState, Published
from statuslist.storage import LoadedList, Storage, StoredToken, open_storage

__all__ = ["Service", "running"]

log = logging.getLogger("statuslist.service")


class Service:
    """Everything behind the HTTP interface, for one storage and one set of issuer keys.

    The parts are public attributes: ``lists``, ``entries``, ``allocator``, ``publisher``,
    ``api_keys`` and ``keys``; the service itself adds start/stop, readiness and the one
    operation that spans parts (creating a list publishes it).
    """

    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        keys: IssuerKeys,
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.keys = keys
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.api_keys = ApiKeys(storage, keys)
        self.lists = Lists(settings, storage, self.metrics, clock)
        self.entries = Entries(settings, storage, self.lists, self.metrics, clock)
        self.publisher = Publisher(settings, storage, self.lists, keys, self.metrics, clock)
        self.allocator = Allocator(
            settings, storage, self.lists, self.metrics, self.publisher.publish_list
        )
        self.audit = Audit(storage, self.lists)
        self.follower = (
            Follower(storage, self.lists, self.publisher, clock) if storage.shared else None
        )
        if self.follower is not None:
            follower = self.follower
            self.publisher.before_round = lambda: follower.sync(lists=True, tokens=False)
        self.started = False
        self.stopping = False
        self.keys_error: str | None = None

    # -- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Loads every list (checkpoint + log replay) and the last tokens, then publishes."""
        await bootstrap(self.settings, self.storage)
        loaded = await self.storage.load_lists()
        states = await asyncio.to_thread(self._restore_all, loaded)
        for state in states:
            self.lists.register(state)
        cursor = await self.storage.wait_changes(0, 0)  # the log as of opening, or later
        version, stored = await self.storage.tokens_after(0)
        if not self.storage.shared:
            stored = await self.storage.load_tokens()
        by_list: dict[str, dict[str, StoredToken]] = {}
        for token in stored:
            by_list.setdefault(token.list_id, {})[token.fmt] = token
        now = self.clock()
        published = []
        for list_id, tokens in by_list.items():
            known = self.lists.find(list_id)
            if known is None or any(t.exp <= now for t in tokens.values()):
                continue
            seq = min(t.seq for t in tokens.values())
            first = next(iter(tokens.values()))
            known.published = Published(
                list_id, first.iat, first.exp, known.record.ttl, seq, tokens
            )
            published.append(known.published)
            known.dirty = seq < known.last_seq or set(tokens) != set(known.record.formats)
            if not known.dirty:
                known.unpublished_since = None
        await self.publisher.announce(published)
        unserved = [s for s in self.lists.by_id.values() if s.published is None]
        if unserved and not self.storage.shared:
            # A list without a usable stored token (new, expired, or failing its checksum) is
            # signed before the instance says it is ready, so a ready instance serves them all.
            try:
                await self.publisher.publish(unserved)
            except Exception:
                log.exception("publishing on start failed; the publisher retries")
        if self.follower is not None:
            self.follower.start(cursor, version)
        self.publisher.start()
        self.started = True
        log.info("loaded %d lists", len(self.lists.by_id))

    def _restore_all(self, loaded: Sequence[LoadedList]) -> list[ListState]:
        """Every loaded list restored; one that fails its integrity checks is set aside in
        ``lists.damaged`` (refused with 503, ``/readyz`` red) while the rest are served."""
        states = []
        for item in loaded:
            try:
                states.append(self.lists.restore(item))
            except ListDamagedError as exc:
                log.error("list %s is not served: %s", item.record.id, exc.detail)
                self.lists.damaged[item.record.id] = (item.record.issuer, exc.detail)
        return states

    async def stop(self) -> None:
        self.stopping = True
        if self.follower is not None:
            await self.follower.stop()
        await self.publisher.stop()
        await self.allocator.close()

    def not_ready(self) -> list[str]:
        """Why this instance should not get traffic now (empty when it should)."""
        reasons = []
        if not self.started:
            reasons.append("starting")
        if self.stopping:
            reasons.append("stopping")
        reasons.extend(self.publisher.unsignable.values())
        reasons.extend(
            f"list {list_id} is damaged ({why}); restore the database from a backup"
            for list_id, (_, why) in sorted(self.lists.damaged.items())
        )
        return reasons

    def degraded(self) -> list[str]:
        """What is wrong although this instance still serves its cached tokens (the database
        away, publishing failing): worth saying, not a reason to take it out of a pool."""
        problems = (
            self.storage.health(),
            self.publisher.last_error,
            self.follower.last_error if self.follower is not None else None,
            self.keys_error,
        )
        return [p for p in problems if p]

    async def reload_keys(self, settings: Settings) -> list[str]:
        """Takes the issuer keys ``settings`` configure (``SIGHUP``, ``statuslist keys
        reload``): the new first key of each issuer signs from the next publish; removed keys
        stay in the JWKS until the tokens they signed expire. A configuration that cannot be
        loaded changes nothing (the error is kept for ``/readyz``) and is raised."""
        from statuslist.service.keys import load_issuer_keys

        try:
            new = await asyncio.to_thread(load_issuer_keys, settings)
        except StatusListError as exc:
            self.keys_error = f"reloading the issuer keys failed, the old ones still sign: {exc}"
            log.error("%s", self.keys_error)
            raise
        changes = self.keys.replace(new, self.settings.token_lifetime)
        self.keys_error = None
        self.publisher.check_signable(self.lists.by_id.values())
        log.info("issuer keys reloaded: %s", "; ".join(changes) or "no change")
        return changes

    # -- operations that span parts -------------------------------------------------------------

    async def create_list(self, caller: ApiKey, params: NewList) -> ListState:
        state = await self.lists.create(caller, params)
        # Published before the uri is handed out, so it never answers 503.
        await self.publisher.publish_list(state)
        return state

    async def publish_now(self, caller: ApiKey, list_id: str) -> Published:
        require(caller, "write")
        state = await self.lists.resolve(caller, list_id)
        seen = state.last_seq
        await self.publisher.publish_list(state, force=True)
        if state.published is None or list_id in self.publisher.unsignable:
            raise UnavailableError("the list could not be signed; see the server log")
        if self.storage.shared and not self.publisher.leading and state.published.seq < seen:
            raise UnavailableError("no instance published the list in time; retry")
        return state.published

    async def historical(self, list_id: str, fmt: str, at: int) -> StoredToken | None:
        return await self.storage.token_at(list_id, fmt, at)


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    listeners: Sequence[Listener] = (),
) -> AsyncIterator[Service]:
    """A started service on the storage ``settings`` name (the one backend factory,
    :func:`~statuslist.storage.open_storage`); ``listeners`` hear of every publish, from the
    tokens loaded on start on. On exit it publishes and checkpoints what changed, then closes
    the storage."""
    from statuslist.service.keys import load_issuer_keys

    keys = load_issuer_keys(settings)  # a configuration error before any connection
    storage = open_storage(settings, server=True)
    await storage.open()
    try:
        service = Service(settings, storage, keys, metrics=metrics)
        service.publisher.listeners.extend(listeners)
        await service.start()
        try:
            yield service
        finally:
            await service.stop()
    finally:
        await storage.close()
