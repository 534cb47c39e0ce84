"""The service: lists, allocation, status changes, publishing. No HTTP here.

Every list lives in native memory (a :class:`~statuslist.codec.StatusList`). A write is a function
run by the storage writer inside a group transaction: it validates against the in-memory list,
logs the change (with the old values), applies it to memory and registers an undo; the caller is
answered only when the transaction is durable. The publisher snapshots lists while no write is in
flight (:meth:`Storage.quiescent`), so a served token never shows a change that is not durable,
then signs off the event loop and swaps the cached bytes in.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import logging
import secrets
import time
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from functools import partial
from typing import Any, cast

from statuslist.codec import INVALID, SUSPENDED, VALID, StatusList
from statuslist.config import Settings
from statuslist.metrics import Metrics
from statuslist.service.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    UnauthorizedError,
    UnavailableError,
    ValidationError,
)
from statuslist.service.permutation import IndexPermutation
from statuslist.storage import (
    PAGE_BYTES,
    ApiKeyRecord,
    ListRecord,
    LoadedList,
    Storage,
    StoredToken,
    Tx,
)
from statuslist.tokens import EncodedClaims, Format, IssuerKey, SigningKey, sign_encoded

__all__ = [
    "SCOPES",
    "STATUS_NAMES",
    "ApiKey",
    "Published",
    "Representation",
    "Service",
    "hash_api_key",
    "new_api_key",
]

log = logging.getLogger("statuslist.service")

STATUS_NAMES = {"VALID": VALID, "INVALID": INVALID, "SUSPENDED": SUSPENDED}
VALUE_NAMES = {v: k for k, v in STATUS_NAMES.items()}
#: API key scopes, each including the ones before it.
SCOPES = ("read", "write", "admin")
MEDIA_TYPES = {"jwt": "application/statuslist+jwt", "cwt": "application/statuslist+cwt"}


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    return "sl_" + secrets.token_urlsafe(32)


def status_name(value: int) -> str:
    return VALUE_NAMES.get(value, f"0x{value:02X}")


@dataclass(frozen=True, slots=True)
class ApiKey:
    issuer: str
    scope: str
    label: str

    def allows(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)


@dataclass(frozen=True, slots=True)
class Representation:
    """One servable body: its bytes, strong ETag, media type and content coding."""

    body: bytes = field(repr=False)
    etag: str
    content_type: str
    encoding: str | None = None


def _representation(body: bytes, fmt: str, encoding: str | None = None) -> Representation:
    tag = hashlib.sha256(body).hexdigest()[:32]
    return Representation(body, f'"{tag}"', MEDIA_TYPES[fmt], encoding)


@dataclass(frozen=True, slots=True)
class Published:
    """The signed tokens of one list as served: per format, plus gzip'd JWT."""

    list_id: str
    iat: int
    exp: int
    ttl: int
    seq: int
    representations: Mapping[str, Representation]  # "jwt", "jwt+gzip", "cwt"
    last_modified: str  # HTTP date of iat, formatted once rather than per request

    @classmethod
    def build(
        cls, list_id: str, ttl: int, seq: int, tokens: Mapping[str, StoredToken]
    ) -> Published:
        reps: dict[str, Representation] = {}
        iat = exp = 0
        for fmt, t in tokens.items():
            reps[fmt] = _representation(t.body, fmt)
            if fmt == "jwt":
                reps["jwt+gzip"] = _representation(gzip.compress(t.body, 6, mtime=0), fmt, "gzip")
            iat, exp = t.iat, t.exp
        return cls(list_id, iat, exp, ttl, seq, reps, formatdate(iat, usegmt=True))


class ListState:
    """One list in memory."""

    __slots__ = (
        "checkpoint_seq",
        "checkpointed_at",
        "counter",
        "dirty",
        "last_seq",
        "page_copy",
        "perm",
        "published",
        "record",
        "sl",
        "unpublished_since",
        "uri",
    )

    def __init__(self, record: ListRecord, sl: StatusList, uri: str) -> None:
        self.record = record
        self.sl = sl
        self.uri = uri
        self.perm = IndexPermutation(record.perm_key, record.size)
        self.counter = 0
        self.last_seq = 0
        self.checkpoint_seq = 0
        self.checkpointed_at = time.monotonic()
        self.page_copy = b""
        self.dirty = True
        self.published: Published | None = None
        self.unpublished_since: float | None = None

    @property
    def capacity(self) -> int:
        return self.record.size - self.record.decoys


def _entries_per_byte(bits: int) -> int:
    return 8 // bits


def _round_size(size: int, bits: int) -> int:
    per = _entries_per_byte(bits)
    return -(-size // per) * per


def _is_int(v: Any) -> bool:
    return type(v) is int


class Service:
    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        keys: Mapping[str, Sequence[IssuerKey]],
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.keys = {name: list(ks) for name, ks in keys.items()}
        self.iss = {i.name: i.iss for i in settings.issuers}
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.lists: dict[str, ListState] = {}
        self.by_issuer: dict[str, list[ListState]] = {name: [] for name in self.keys}
        self._api_keys: dict[str, ApiKey] = {}
        self._publisher: asyncio.Task[None] | None = None
        self._publish_lock = asyncio.Lock()
        self.ready = False

    # -- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        loaded = await self.storage.load_lists()
        states = await asyncio.to_thread(lambda: [self._restore(item) for item in loaded])
        for state in states:
            self._register(state)
        by_list: dict[str, dict[str, StoredToken]] = {}
        for token in await self.storage.load_tokens():
            by_list.setdefault(token.list_id, {})[token.fmt] = token
        now = self.clock()
        for list_id, tokens in by_list.items():
            known = self.lists.get(list_id)
            if known is None or any(t.exp <= now for t in tokens.values()):
                continue
            seq = min(t.seq for t in tokens.values())
            known.published = Published.build(list_id, known.record.ttl, seq, tokens)
            known.dirty = seq < known.last_seq or set(tokens) != set(known.record.formats)
            if not known.dirty:
                known.unpublished_since = None
        self._update_gauges()
        self._publisher = asyncio.create_task(self._publish_loop(), name="statuslist-publisher")
        self.ready = True
        log.info("loaded %d lists", len(self.lists))

    async def stop(self) -> None:
        """Stops publishing, then publishes and checkpoints what changed (faster restart)."""
        self.ready = False
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
            self._publisher = None
        with contextlib.suppress(Exception):
            await self.publish_due(force_checkpoint=True)

    def _restore(self, item: LoadedList) -> ListState:
        r = item.record
        nbytes = r.size * r.bits // 8
        raw = bytearray(nbytes)
        for page, data in item.pages.items():
            raw[page * PAGE_BYTES : page * PAGE_BYTES + len(data)] = data
        checkpoint = bytes(raw)
        sl = StatusList.from_bytes(checkpoint, r.bits)
        for change in item.changes:
            sl.set_many(array("Q", change.indices), change.new)
        state = ListState(r, sl, self.uri(r.id))
        state.counter = item.counter
        state.checkpoint_seq = item.checkpoint_seq
        state.last_seq = item.changes[-1].seq if item.changes else item.checkpoint_seq
        state.page_copy = checkpoint
        state.unpublished_since = self.clock() if item.changes else None
        return state

    def _register(self, state: ListState) -> None:
        self.lists[state.record.id] = state
        self.by_issuer.setdefault(state.record.issuer, []).append(state)

    def _unregister(self, state: ListState) -> None:
        self.lists.pop(state.record.id, None)
        with contextlib.suppress(ValueError):
            self.by_issuer[state.record.issuer].remove(state)

    def _update_gauges(self) -> None:
        m = self.metrics
        m.lists.set(len(self.lists))
        m.list_entries.set(sum(s.record.size for s in self.lists.values()))
        m.list_bytes.set(sum(s.record.size * s.record.bits // 8 for s in self.lists.values()))

    # -- URLs -----------------------------------------------------------------------------------

    def uri(self, list_id: str) -> str:
        return f"{self.settings.base_url}/statuslists/{list_id}"

    def aggregation_uri(self, issuer: str) -> str:
        return f"{self.settings.base_url}/aggregation/{issuer}"

    # -- API keys -------------------------------------------------------------------------------

    async def authenticate(self, key: str) -> ApiKey:
        digest = hash_api_key(key)
        found = self._api_keys.get(digest)
        if found is None:
            record = await self.storage.find_api_key(digest)
            if record is None or record.issuer not in self.keys:
                raise UnauthorizedError("the API key is not known")
            found = ApiKey(record.issuer, record.scope, record.label)
            if len(self._api_keys) < 100_000:
                self._api_keys[digest] = found
        return found

    async def create_api_key(self, issuer: str, scope: str, label: str = "") -> tuple[str, ApiKey]:
        return await create_api_key(self.storage, issuer, scope, label, self.clock())

    # -- lists ----------------------------------------------------------------------------------

    def get_list(self, caller: ApiKey, list_id: str) -> ListState:
        state = self.lists.get(list_id)
        if state is None or state.record.issuer != caller.issuer:
            raise NotFoundError(
                f"no list {list_id!r} for issuer {caller.issuer!r}", field="list_id"
            )
        return state

    def _new_record(
        self,
        issuer: str,
        *,
        bits: int | None = None,
        size: int | None = None,
        ttl: int | None = None,
        formats: Sequence[str] | None = None,
        final_invalid: bool = False,
        decoys: int = 0,
        auto: bool = False,
    ) -> ListRecord:
        d, limits = self.settings.list_defaults, self.settings.limits
        bits = d.bits if bits is None else bits
        size = d.size if size is None else size
        ttl = d.ttl if ttl is None else ttl
        formats = tuple(d.formats if formats is None else formats)
        if bits not in (1, 2, 4, 8):
            raise ValidationError("bits must be 1, 2, 4 or 8", field="bits")
        if not 1 <= size <= limits.max_list_size:
            raise ValidationError(
                f"size must be between 1 and {limits.max_list_size}", field="size"
            )
        if not 1 <= ttl <= 31 * 86400:
            raise ValidationError("ttl must be 1 s .. 31 days", field="ttl")
        if not formats or not set(formats) <= set(MEDIA_TYPES) or len(set(formats)) != len(formats):
            raise ValidationError(
                'formats must be a non-empty subset of ["jwt", "cwt"]', field="formats"
            )
        size = _round_size(size, bits)
        if not 0 <= decoys < size:
            raise ValidationError(f"decoys must be in [0, {size})", field="decoys")
        if len(self.by_issuer.get(issuer, ())) >= limits.max_lists_per_issuer:
            raise ConflictError(f"issuer {issuer!r} has the maximum number of lists")
        return ListRecord(
            id=secrets.token_hex(8),
            issuer=issuer,
            bits=bits,
            size=size,
            ttl=ttl,
            formats=formats,
            final_invalid=final_invalid,
            decoys=decoys,
            auto=auto,
            created_at=self.clock(),
            perm_key=secrets.token_bytes(32),
        )

    def _create_in_tx(self, tx: Tx, record: ListRecord, decoy_idx: array[int] | None) -> ListState:
        """Creates the list inside a write (memory too, undone if the write fails)."""
        tx.insert_list(record)
        state = ListState(record, StatusList(record.size, record.bits), self.uri(record.id))
        state.page_copy = bytes(record.size * record.bits // 8)
        if decoy_idx is not None and len(decoy_idx):
            values = _decoy_values(len(decoy_idx), record.bits)
            state.last_seq = tx.append_change(
                record.id,
                decoy_idx.tobytes(),
                bytes(len(values)),
                values,
                record.created_at,
                "decoy",
            )
            state.sl.set_many(decoy_idx, values)
        state.unpublished_since = self.clock()
        self._register(state)
        tx.on_rollback(lambda: self._unregister(state))
        return state

    async def create_list(self, caller: ApiKey, **params: Any) -> ListState:
        _require(caller, "admin")
        record = self._new_record(caller.issuer, **params)
        decoy_idx = None
        if record.decoys:
            perm = IndexPermutation(record.perm_key, record.size)
            start = record.size - record.decoys
            decoy_idx = await asyncio.to_thread(perm.many, start, record.decoys)
        state = await self.storage.transact(lambda tx: self._create_in_tx(tx, record, decoy_idx))
        self._update_gauges()
        # Published before the uri is handed out, so it never answers 503.
        await self.publish_due(only=[state])
        return state

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
            "allocated": state.counter,
            "capacity": state.capacity,
        }
        if counts:
            out["counts"] = {status_name(k): v for k, v in sorted(state.sl.counts().items())}
        p = state.published
        out["published"] = (
            None
            if p is None
            else {"iat": p.iat, "exp": p.exp, "etag": p.representations[r.formats[0]].etag}
        )
        out["pending_publish"] = state.dirty
        return out

    def issuer_lists(self, caller: ApiKey) -> list[ListState]:
        return list(self.by_issuer.get(caller.issuer, ()))

    # -- allocation -----------------------------------------------------------------------------

    async def allocate(
        self, caller: ApiKey, count: int, list_id: str | None = None
    ) -> list[tuple[str, int]]:
        """``count`` fresh entries as ``(uri, idx)``; indices are never handed out twice."""
        _require(caller, "write")
        limit = self.settings.limits.max_allocation
        if not _is_int(count) or not 1 <= count <= limit:
            raise ValidationError(f"count must be an integer in [1, {limit}]", field="count")
        fixed = self.get_list(caller, list_id) if list_id is not None else None
        if fixed is not None and fixed.capacity - fixed.counter < count:
            raise ConflictError(
                f"list {fixed.record.id} has {fixed.capacity - fixed.counter} free entries, "
                f"{count} requested",
                field="count",
            )
        # Records for lists the allocation may have to create, made up front (outside the writer).
        spare: list[ListRecord] = []

        def take(tx: Tx) -> list[tuple[ListState, int, int]]:
            ranges: list[tuple[ListState, int, int]] = []
            need = count
            pool = [fixed] if fixed is not None else self._pool(caller.issuer)
            while need:
                state = next((s for s in pool if s.capacity > s.counter), None)
                if state is None:
                    if not spare:
                        raise _NeedSpareError
                    state = self._create_in_tx(tx, spare.pop(), None)
                    pool.append(state)
                n = min(need, state.capacity - state.counter)
                start = state.counter
                tx.set_counter(state.record.id, start + n)
                state.counter = start + n
                tx.on_rollback(partial(setattr, state, "counter", start))
                ranges.append((state, start, n))
                need -= n
            return ranges

        while True:
            try:
                ranges = await self.storage.transact(take)
                break
            except _NeedSpareError:
                per_list = self.settings.list_defaults.size
                spare = [
                    self._new_record(caller.issuer, auto=True) for _ in range(count // per_list + 1)
                ]
        fresh = [s for s, _, _ in ranges if s.published is None]
        if fresh:
            self._update_gauges()
            await self.publish_due(only=fresh)
            self.metrics.allocated.inc(count)

        def indices() -> list[tuple[str, int]]:
            out: list[tuple[str, int]] = []
            for state, start, n in ranges:
                out.extend((state.uri, i) for i in state.perm.many(start, n))
            return out

        if count <= 256:
            return indices()
        return await asyncio.to_thread(indices)

    def _pool(self, issuer: str) -> list[ListState]:
        """The issuer's automatic lists that still have room, oldest first."""
        return [
            s for s in self.by_issuer.get(issuer, ()) if s.record.auto and s.capacity > s.counter
        ]

    # -- status ---------------------------------------------------------------------------------

    def parse_status(self, state: ListState, value: Any, fld: str = "status") -> int:
        bits = state.record.bits
        if isinstance(value, str):
            v = STATUS_NAMES.get(value)
            if v is None:
                raise ValidationError(
                    f"unknown status {value!r}: use VALID, INVALID, SUSPENDED or an integer",
                    field=fld,
                )
        elif _is_int(value):
            v = value
        else:
            raise ValidationError("status must be a name or an integer", field=fld)
        if not 0 <= v < 1 << bits:
            raise ValidationError(
                f"status {value!r} does not fit the list's {bits} bit(s) (0..{(1 << bits) - 1})",
                field=fld,
            )
        return v

    def parse_index(self, state: ListState, value: Any, fld: str = "idx") -> int:
        if not _is_int(value) or not 0 <= value < state.record.size:
            raise ValidationError(
                f"index must be an integer in [0, {state.record.size}), got {value!r}", field=fld
            )
        return int(value)

    def parse_indices(self, state: ListState, values: Any, fld: str = "indices") -> array[int]:
        if not isinstance(values, list) or not values:
            raise ValidationError("must be a non-empty array of indices", field=fld)
        self._check_batch(len(values))
        if not all(map(_is_int, values)):
            bad = next(i for i, v in enumerate(values) if not _is_int(v))
            raise ValidationError(f"{fld}[{bad}] is not an integer", field=f"{fld}[{bad}]")
        lo, hi = min(values), max(values)
        if lo < 0 or hi >= state.record.size:
            bad = next(i for i, v in enumerate(values) if not 0 <= v < state.record.size)
            raise ValidationError(
                f"{fld}[{bad}] = {values[bad]} is outside [0, {state.record.size})",
                field=f"{fld}[{bad}]",
            )
        return array("Q", values)

    def _check_batch(self, n: int) -> None:
        limit = self.settings.limits.max_batch
        if n > limit:
            raise PayloadTooLargeError(f"{n} updates in one batch; the limit is {limit}")

    def parse_updates(self, state: ListState, body: Any) -> tuple[array[int], bytes]:
        """The JSON forms of a batch: ``{"updates": [{"idx", "status"}, …]}``,
        ``{"indices": […], "status": S}`` or ``{"indices": […], "statuses": […]}``."""
        if not isinstance(body, dict):
            raise ValidationError("the body must be a JSON object")
        if "updates" in body:
            _only(body, {"updates"})
            updates = body["updates"]
            if not isinstance(updates, list) or not updates:
                raise ValidationError("updates must be a non-empty array", field="updates")
            self._check_batch(len(updates))
            idx = array("Q")
            vals = bytearray()
            for n, u in enumerate(updates):
                if not isinstance(u, dict) or set(u) != {"idx", "status"}:
                    raise ValidationError(
                        'each update must be {"idx": …, "status": …}', field=f"updates[{n}]"
                    )
                idx.append(self.parse_index(state, u["idx"], f"updates[{n}].idx"))
                vals.append(self.parse_status(state, u["status"], f"updates[{n}].status"))
            return idx, bytes(vals)
        if "indices" in body:
            idx = self.parse_indices(state, body["indices"])
            if "status" in body:
                _only(body, {"indices", "status"})
                return idx, bytes([self.parse_status(state, body["status"])]) * len(idx)
            _only(body, {"indices", "statuses"})
            statuses = body.get("statuses")
            if not isinstance(statuses, list) or len(statuses) != len(idx):
                raise ValidationError(
                    "statuses must be an array as long as indices", field="statuses"
                )
            names = {
                name: bytes([v]) for name, v in STATUS_NAMES.items() if v < 1 << state.record.bits
            }
            try:
                return idx, b"".join(
                    names[s]
                    if isinstance(s, str) and s in names
                    else bytes([self.parse_status(state, s)])
                    for s in statuses
                )
            except ValidationError as exc:
                bad = next(i for i, s in enumerate(statuses) if not _status_ok(self, state, s))
                raise ValidationError(exc.detail, field=f"statuses[{bad}]") from None
        raise ValidationError('expected "updates" or "indices"')

    def parse_binary(self, state: ListState, raw: bytes, status: Any) -> tuple[array[int], bytes]:
        """``application/octet-stream``: little-endian u64 indices, one ``status`` for all."""
        if not raw or len(raw) % 8:
            raise ValidationError("the body must be a non-empty sequence of u64 LE indices")
        idx = array("Q")
        idx.frombytes(raw)
        if idx.itemsize != 8:  # pragma: no cover - every supported platform has 8-byte Q
            raise ValidationError("unsupported platform")
        self._check_batch(len(idx))
        if max(idx) >= state.record.size:
            raise ValidationError(f"indices must be in [0, {state.record.size})", field="indices")
        v = self.parse_status(state, status)
        return idx, bytes([v]) * len(idx)

    async def set_status(
        self, caller: ApiKey, updates: Sequence[tuple[ListState, array[int], bytes]]
    ) -> int:
        """Writes all updates (possibly across several lists of the caller) atomically; returns
        the number of entries written. Validated before anything is written."""
        _require(caller, "write")
        self._check_batch(sum(len(idx) for _, idx, _ in updates))
        for state, _, _ in updates:
            if state.record.issuer != caller.issuer:
                raise NotFoundError(f"no list {state.record.id!r}", field="list_id")
        actor = f"{caller.issuer}:{caller.label}"

        def apply(tx: Tx) -> int:
            now = self.clock()
            olds = [state.sl.get_many(idx) for state, idx, _ in updates]
            for (state, idx, new), old in zip(updates, olds, strict=True):
                if state.record.final_invalid:
                    _check_final(state, idx, old, new)
            total = 0
            for (state, idx, new), old in zip(updates, olds, strict=True):
                seq = tx.append_change(state.record.id, idx.tobytes(), old, new, now, actor)
                state.sl.set_many(idx, new)
                prev = (state.last_seq, state.dirty, state.unpublished_since)
                state.last_seq, state.dirty = seq, True
                if state.unpublished_since is None:
                    state.unpublished_since = now
                tx.on_rollback(partial(_undo, state, idx, old, prev))
                total += len(idx)
            return total

        total = await self.storage.transact(apply)
        for _, _, new in updates:
            if len(new) == 1 or new.count(new[0]) == len(new):
                self.metrics.entries_updated.labels(str(new[0])).inc(len(new))
            else:
                for v in set(new):
                    self.metrics.entries_updated.labels(str(v)).inc(new.count(v))
        return total

    def get_status(self, caller: ApiKey, list_id: str, idx: Any) -> tuple[int, int]:
        state = self.get_list(caller, list_id)
        i = self.parse_index(state, idx)
        return i, state.sl[i]

    def resolve_uri(self, caller: ApiKey, uri: Any, fld: str) -> ListState:
        prefix = self.settings.base_url + "/statuslists/"
        if not isinstance(uri, str) or not uri.startswith(prefix):
            raise ValidationError(f"uri must start with {prefix}", field=fld)
        return self.get_list(caller, uri[len(prefix) :])

    # -- publishing -----------------------------------------------------------------------------

    def token(self, list_id: str) -> Published | None:
        state = self.lists.get(list_id)
        return None if state is None else state.published

    def list_exists(self, list_id: str) -> bool:
        return list_id in self.lists

    async def historical(self, list_id: str, fmt: str, at: int) -> StoredToken | None:
        return await self.storage.token_at(list_id, fmt, at)

    async def publish_now(self, caller: ApiKey, list_id: str) -> Published:
        _require(caller, "write")
        state = self.get_list(caller, list_id)
        state.dirty = True
        await self.publish_due(only=[state])
        if state.published is None:
            raise UnavailableError("the list could not be signed; see the server log")
        return state.published

    def _due(self, now: float) -> list[ListState]:
        refresh = self.settings.token_lifetime / 2
        return [
            s
            for s in self.lists.values()
            if s.dirty or s.published is None or s.published.exp - now < refresh
        ]

    async def _publish_loop(self) -> None:
        interval = self.settings.publish_interval
        while True:
            started = time.monotonic()
            try:
                await self.publish_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("publishing failed; retrying")
            # At most one round per interval (POST …/publish publishes at once).
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    async def publish_due(
        self, only: Sequence[ListState] | None = None, *, force_checkpoint: bool = False
    ) -> None:
        async with self._publish_lock:
            t0 = time.perf_counter()
            due = list(only) if only is not None else self._due(self.clock())
            if due:
                await self._publish(due)
                self.metrics.publish_duration.observe(time.perf_counter() - t0)
            await self._checkpoint(force_checkpoint)
            commits, writes = (
                getattr(self.storage, "commits", 0),
                getattr(self.storage, "writes", 0),
            )
            self.metrics.commits.set(commits)
            self.metrics.writes.set(writes)

    async def _publish(self, due: Sequence[ListState]) -> None:
        def snapshot() -> list[tuple[ListState, bytes, int, float | None]]:
            out = []
            for s in due:
                out.append((s, s.sl.encode(), s.last_seq, s.unpublished_since))
                s.dirty, s.unpublished_since = False, None
            return out

        snaps = await self.storage.quiescent(snapshot)
        iat = int(self.clock())
        exp = iat + self.settings.token_lifetime
        jobs: list[tuple[SigningKey, EncodedClaims, Format]] = []
        for s, lst, _, _ in snaps:
            r = s.record
            keys = self.keys.get(r.issuer)
            if not keys:
                log.error("issuer %s of list %s has no signing key", r.issuer, r.id)
                continue
            claims = EncodedClaims(
                sub=s.uri,
                iat=iat,
                bits=r.bits,
                lst=lst,
                exp=exp,
                ttl=r.ttl,
                iss=self.iss.get(r.issuer),
                aggregation_uri=self.aggregation_uri(r.issuer),
            )
            jobs.extend((keys[0].signer, claims, cast(Format, fmt)) for fmt in r.formats)
        try:
            bodies = await asyncio.to_thread(sign_encoded, jobs)
        except Exception:
            for s, _, _, since in snaps:
                s.dirty, s.unpublished_since = True, since
            raise
        tokens: list[StoredToken] = []
        published: list[tuple[ListState, int, float | None, dict[str, StoredToken]]] = []
        it = iter(bodies)
        for s, _, seq, since in snaps:
            if not self.keys.get(s.record.issuer):
                continue
            per_fmt = {
                fmt: StoredToken(s.record.id, fmt, next(it), iat, exp, seq)
                for fmt in s.record.formats
            }
            tokens.extend(per_fmt.values())
            published.append((s, seq, since, per_fmt))
        built = await asyncio.to_thread(
            lambda: [
                Published.build(s.record.id, s.record.ttl, seq, t) for s, seq, _, t in published
            ]
        )
        done = self.clock()
        for (s, _, since, _), pub in zip(published, built, strict=True):
            s.published = pub
            if since is not None:
                self.metrics.publish_lag.observe(max(0.0, done - since))
        self.metrics.publishes.inc(len(tokens))
        archive = self.settings.history_retention > 0
        horizon = done - self.settings.history_retention

        def persist(tx: Tx) -> None:
            for t in tokens:
                tx.save_token(t, archive)
            if archive:
                tx.prune_history(horizon)

        await self.storage.transact(persist)

    async def _checkpoint(self, force: bool) -> None:
        now = time.monotonic()
        due = [
            s
            for s in self.lists.values()
            if s.last_seq > s.checkpoint_seq
            and (force or now - s.checkpointed_at >= self.settings.checkpoint_interval)
        ]
        if not due:
            return

        def write(tx: Tx) -> None:
            for s in due:
                raw = s.sl.to_bytes()
                old = s.page_copy
                pages = {
                    n: raw[a : a + PAGE_BYTES]
                    for n, a in enumerate(range(0, len(raw), PAGE_BYTES))
                    if memoryview(raw)[a : a + PAGE_BYTES] != memoryview(old)[a : a + PAGE_BYTES]
                }
                tx.checkpoint(s.record.id, pages, s.last_seq)
                prev = (s.page_copy, s.checkpoint_seq)
                s.page_copy, s.checkpoint_seq, s.checkpointed_at = raw, s.last_seq, now
                tx.on_rollback(partial(_restore_checkpoint, s, *prev))

        await self.storage.transact(write)

    # -- public documents -------------------------------------------------------------------------

    def jwks(self, issuer: str | None = None) -> dict[str, list[dict[str, Any]]]:
        from statuslist.tokens import jwks

        names = list(self.keys) if issuer is None else [issuer]
        return jwks([k for name in names for k in self.keys.get(name, ())])

    def aggregation(self, issuer: str) -> list[str]:
        return [s.uri for s in self.by_issuer.get(issuer, ())]


class _NeedSpareError(Exception):
    """Allocation ran out of lists; the caller makes new list records and retries."""


def _require(caller: ApiKey, scope: str) -> None:
    if not caller.allows(scope):
        raise ForbiddenError(f"this {caller.scope} API key cannot do what needs {scope}")


def _only(body: Mapping[str, Any], allowed: set[str]) -> None:
    extra = set(body) - allowed
    if extra:
        raise ValidationError(f"unexpected member(s): {', '.join(sorted(extra))}", field=min(extra))


def _status_ok(svc: Service, state: ListState, s: Any) -> bool:
    try:
        svc.parse_status(state, s)
    except ValidationError:
        return False
    return True


def _check_final(state: ListState, idx: array[int], old: bytes, new: bytes) -> None:
    """On a list with irreversible INVALID, an INVALID entry may not change again."""
    if INVALID not in old:
        return
    one = new.count(new[0]) == len(new)
    if one and new[0] == INVALID:
        return
    for i, (o, n) in enumerate(zip(old, new, strict=True)):
        if o == INVALID and n != INVALID:
            raise ConflictError(
                f"entry {idx[i]} is INVALID and this list makes INVALID final",
                field="status",
            )


def _undo(
    state: ListState, idx: array[int], old: bytes, prev: tuple[int, bool, float | None]
) -> None:
    state.sl.set_many(idx, old)
    state.last_seq, state.dirty, state.unpublished_since = prev


def _restore_checkpoint(state: ListState, page_copy: bytes, seq: int) -> None:
    state.page_copy, state.checkpoint_seq = page_copy, seq


def _decoy_values(n: int, bits: int) -> bytes:
    """Decoy statuses: INVALID, or for lists with room for it a mix with SUSPENDED."""
    if bits == 1:
        return bytes([INVALID]) * n
    return bytes(secrets.choice((INVALID, SUSPENDED)) for _ in range(n))


async def create_api_key(
    storage: Storage, issuer: str, scope: str, label: str, now: float
) -> tuple[str, ApiKey]:
    """A new API key for ``issuer`` (stored as its SHA-256 only); returns the key once."""
    if scope not in SCOPES:
        raise ValidationError(f"scope must be one of {', '.join(SCOPES)}", field="scope")
    key = new_api_key()
    label = label or f"key-{key[3:11]}"
    record = ApiKeyRecord(hash_api_key(key), issuer, scope, label, now)
    await storage.transact(lambda tx: tx.insert_api_key(record))
    return key, ApiKey(issuer, scope, label)
