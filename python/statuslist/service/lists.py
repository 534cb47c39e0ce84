"""Lists: the registry of lists in memory (by id and by issuer), creating lists (defaults,
validation, decoy entries), restoring them on start, and what a list looks like to its issuer."""

from __future__ import annotations

import asyncio
import secrets
import time
from array import array
from collections.abc import Callable
from typing import Any

from statuslist.codec import INVALID, SUSPENDED, StatusList
from statuslist.config import Settings
from statuslist.exceptions import InputError
from statuslist.metrics import Metrics
from statuslist.service.commands import NewList
from statuslist.service.errors import (
    ConflictError,
    ListDamagedError,
    NotFoundError,
    ValidationError,
)
from statuslist.service.keys import ApiKey, require
from statuslist.service.permutation import IndexPermutation
from statuslist.service.state import ListState, status_name
from statuslist.storage import PAGE_BYTES, ListRecord, LoadedList, NewChange, Storage

__all__ = ["FORMATS", "Lists"]

FORMATS = ("jwt", "cwt")


def _round_size(size: int, bits: int) -> int:
    per = 8 // bits
    return -(-size // per) * per


def _decoy_values(n: int, bits: int) -> bytes:
    """Decoy statuses: INVALID, or for lists with room for it a mix with SUSPENDED."""
    if bits == 1:
        return bytes([INVALID]) * n
    # One random bit per decoy picks INVALID or SUSPENDED.
    bits = int.from_bytes(secrets.token_bytes(-(-n // 8)), "little")
    return bytes(SUSPENDED if (bits >> i) & 1 else INVALID for i in range(n))


class Lists:
    """Every list this instance knows, and their creation."""

    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._metrics = metrics
        self._clock = clock
        self._prefix = f"{settings.base_url}/statuslists/"
        self.by_id: dict[str, ListState] = {}
        self.by_issuer: dict[str, list[ListState]] = {}
        self._loading: dict[str, asyncio.Lock] = {}
        #: Lists that failed their integrity checks on load: id -> (issuer, why). Not served,
        #: not written, not published; their rows stay untouched in the database for repair.
        self.damaged: dict[str, tuple[str, str]] = {}

    # -- lookup ---------------------------------------------------------------------------------

    def uri(self, list_id: str) -> str:
        return self._prefix + list_id

    def aggregation_uri(self, issuer: str) -> str:
        return f"{self._settings.base_url}/aggregation/{issuer}"

    def find(self, list_id: str) -> ListState | None:
        return self.by_id.get(list_id)

    def get(self, caller: ApiKey, list_id: str, fld: str | None = "list_id") -> ListState:
        """The caller's list ``list_id``; another issuer's list is not found either."""
        state = self.by_id.get(list_id)
        damaged = self.damaged.get(list_id) if state is None else None
        if damaged is not None and damaged[0] == caller.issuer:
            raise self.damage_error(list_id)
        if state is None or state.record.issuer != caller.issuer:
            raise NotFoundError(f"no list {list_id!r} for issuer {caller.issuer!r}", field=fld)
        return state

    async def resolve(self, caller: ApiKey, list_id: str, fld: str | None = "list_id") -> ListState:
        """:meth:`get`, and with several instances, a list another instance created that this
        one has not heard of yet is loaded first."""
        if list_id not in self.by_id and self._storage.shared:
            await self.load(list_id)
        return self.get(caller, list_id, fld)

    async def load(self, list_id: str) -> ListState | None:
        """Loads and registers a list created elsewhere (None if there is no such list)."""
        lock = self._loading.setdefault(list_id, asyncio.Lock())
        async with lock:
            state = self.by_id.get(list_id)
            if state is None:
                loaded = await self._storage.load_list(list_id)
                if loaded is not None:
                    state = await asyncio.to_thread(self.restore, loaded)
                    if list_id not in self.by_id:
                        self.register(state)
                    state = self.by_id[list_id]
        self._loading.pop(list_id, None)
        return state

    def damage_error(self, list_id: str) -> ListDamagedError:
        """What a request for a damaged list is told."""
        why = self.damaged[list_id][1]
        return ListDamagedError(
            f"list {list_id} failed its integrity check when the server started ({why}); it "
            "is not served until the database is restored from a backup"
        )

    def of_issuer(self, issuer: str) -> list[ListState]:
        return list(self.by_issuer.get(issuer, ()))

    def list_id_of(self, uri: str) -> str | None:
        """The list id in a status list URI of this server, or None."""
        return uri[len(self._prefix) :] if uri.startswith(self._prefix) else None

    @property
    def uri_prefix(self) -> str:
        return self._prefix

    # -- creation -------------------------------------------------------------------------------

    def new_record(self, issuer: str, params: NewList, *, auto: bool = False) -> ListRecord:
        """A validated record for a new list of ``issuer`` (defaults from the settings)."""
        d, limits = self._settings.list_defaults, self._settings.limits
        bits = d.bits if params.bits is None else params.bits
        size = d.size if params.size is None else params.size
        ttl = d.ttl if params.ttl is None else params.ttl
        formats = tuple(d.formats if params.formats is None else params.formats)
        if bits not in (1, 2, 4, 8):
            raise ValidationError("bits must be 1, 2, 4 or 8", field="bits")
        if not 1 <= size <= limits.max_list_size:
            raise ValidationError(
                f"size must be between 1 and {limits.max_list_size}", field="size"
            )
        if not 1 <= ttl <= 31 * 86400:
            raise ValidationError("ttl must be 1 s .. 31 days", field="ttl")
        if not formats or not set(formats) <= set(FORMATS) or len(set(formats)) != len(formats):
            raise ValidationError(
                'formats must be a non-empty subset of ["jwt", "cwt"]', field="formats"
            )
        size = _round_size(size, bits)
        if not 0 <= params.decoys < size:
            raise ValidationError(f"decoys must be in [0, {size})", field="decoys")
        if params.decoys > limits.max_decoys:
            raise ValidationError(
                f"decoys must be at most {limits.max_decoys} (limits.max_decoys)", field="decoys"
            )
        if len(self.by_issuer.get(issuer, ())) >= limits.max_lists_per_issuer:
            raise ConflictError(f"issuer {issuer!r} has the maximum number of lists")
        return ListRecord(
            id=secrets.token_hex(8),
            issuer=issuer,
            bits=bits,
            size=size,
            ttl=ttl,
            formats=formats,
            final_invalid=params.final_invalid,
            decoys=params.decoys,
            auto=auto,
            created_at=self._clock(),
            perm_key=secrets.token_bytes(32),
        )

    async def create(self, caller: ApiKey, params: NewList) -> ListState:
        """A new list (not yet published); the caller needs the admin scope."""
        require(caller, "admin")
        return await self.insert(self.new_record(caller.issuer, params))

    async def insert(self, record: ListRecord) -> ListState:
        """Stores ``record`` (with its decoy entries), then registers it in memory."""
        decoys = None
        sl = StatusList(record.size, record.bits)
        if record.decoys:
            perm = IndexPermutation(record.perm_key, record.size)
            start = record.size - record.decoys
            # Both O(decoys): off the event loop.
            idx = await asyncio.to_thread(perm.many, start, record.decoys)
            values = await asyncio.to_thread(_decoy_values, len(idx), record.bits)
            decoys = NewChange(
                record.id, idx.tobytes(), bytes(len(values)), values, record.created_at, "decoy"
            )
            sl.set_many(idx, values)
        seq = await self._storage.insert_list(record, decoys)
        state = ListState(record, sl, self.uri(record.id))
        state.last_seq = seq
        # Pages never checkpointed load as zeros; decoys are the only non-zero entries.
        state.dirty_pages = None if decoys is not None else set()
        state.unpublished_since = self._clock()
        self.register(state)
        return state

    def restore(self, item: LoadedList) -> ListState:
        """A list as loaded: its checkpoint pages with the log after them replayed. Raises
        :class:`DamagedListError` when the rows do not make a list of the record's shape."""
        r = item.record
        if item.damage is not None:
            raise ListDamagedError(item.damage)
        nbytes = r.size * r.bits // 8
        raw = bytearray(nbytes)
        for page, data in item.pages.items():
            at = page * PAGE_BYTES
            if not 0 <= at < nbytes or len(data) != min(PAGE_BYTES, nbytes - at):
                raise ListDamagedError(f"bitmap page {page} does not fit the list")
            raw[at : at + len(data)] = data
        try:
            sl = StatusList.from_bytes(bytes(raw), r.bits)
            for change in item.changes:
                if len(change.indices) != 8 * len(change.new):
                    raise ListDamagedError(f"change log row {change.seq} is malformed")
                sl.set_many(array("Q", change.indices), change.new)
        except InputError as exc:
            raise ListDamagedError(f"the stored rows do not make a valid list: {exc}") from None
        state = ListState(r, sl, self.uri(r.id))
        state.counter = item.counter
        state.checkpoint_seq = item.checkpoint_seq
        state.last_seq = item.changes[-1].seq if item.changes else item.checkpoint_seq
        state.dirty_pages = None if item.changes else set()
        state.unpublished_since = self._clock() if item.changes else None
        return state

    def register(self, state: ListState) -> None:
        """Makes ``state`` known (event loop only); updates the gauges."""
        self.by_id[state.record.id] = state
        self.by_issuer.setdefault(state.record.issuer, []).append(state)
        m = self._metrics
        m.lists.set(len(self.by_id))
        m.list_entries.inc(state.record.size)
        m.list_bytes.inc(state.record.size * state.record.bits // 8)

    # -- what an issuer sees --------------------------------------------------------------------

    async def describe_now(self, state: ListState) -> dict[str, Any]:
        """:meth:`describe` with the counts per status, computed off the event loop (a pass
        over the whole bitmap: seconds for the largest lists)."""
        counts = await asyncio.to_thread(state.committed.counts)
        doc = self.describe(state, counts=False)
        doc["counts"] = {status_name(k): v for k, v in sorted(counts.items())}
        return doc

    def describe(self, state: ListState, *, counts: bool = True) -> dict[str, Any]:
        r = state.record
        out: dict[str, Any] = {
            "id": r.id,
            "uri": state.uri,
            "issuer": r.issuer,
            "bits": r.bits,
            "size": r.size,
            "ttl": r.ttl,
            "formats": list(r.formats),
            "final_invalid": r.final_invalid,
            "decoys": r.decoys,
            "auto": r.auto,
            "created_at": r.created_at,
            "allocated": state.allocated,
            "capacity": state.capacity,
        }
        if counts:
            out["counts"] = {status_name(k): v for k, v in sorted(state.committed.counts().items())}
        p = state.published
        out["published"] = None if p is None else {"iat": p.iat, "exp": p.exp}
        out["pending_publish"] = state.dirty
        return out
