"""Durable storage for the service: the protocol the service layer talks to, and its records.

The service keeps every active list in native memory and uses storage for three things:

- **writes**, as functions run by :meth:`Storage.transact` inside one database transaction
  shared with other concurrent writes (group commit: many requests, one fsync). The function gets a
  :class:`Tx` with the few write operations there are; it may change in-memory state too, and
  registers an undo with :meth:`Tx.on_rollback` for the case that the transaction does not commit.
  ``transact`` returns only once the transaction is durable, so a 2xx after it is never lost;
- **snapshots**, through :meth:`Storage.quiescent`, which runs a function when every write queued
  before it has committed and none after it has started: the publisher reads lists there, so a
  token never shows a change that is not durable;
- **loading** on start: list metadata, the bitmap pages of the last checkpoint, the change log after
  it (replayed), the last published tokens, API keys.

Layout (SQLite and PostgreSQL alike): ``lists`` (metadata, allocation counter, checkpoint
sequence), ``pages`` (the bitmap in :data:`PAGE_BYTES` pages as of the checkpoint), ``changes``
(append-only log: one row per write with the indices, old and new values, time and actor; the
audit trail), ``tokens`` (the latest signed token per list and format), ``token_history``
(published tokens kept for ``?time=``), ``api_keys`` (SHA-256 of each key, its issuer and scope).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from statuslist.codec import CHUNK_BYTES

__all__ = [
    "PAGE_BYTES",
    "ApiKeyRecord",
    "Change",
    "ListRecord",
    "LoadedList",
    "Storage",
    "StorageError",
    "StoredToken",
    "Tx",
]

T = TypeVar("T")

#: Bitmap page size in storage; equal to the encoder's chunk so a page maps to one chunk.
PAGE_BYTES = CHUNK_BYTES


class StorageError(RuntimeError):
    """The database failed (I/O error, disk full, closed): the write was not committed."""


@dataclass(frozen=True, slots=True)
class ListRecord:
    """A list's fixed metadata."""

    id: str
    issuer: str
    bits: int
    size: int
    ttl: int
    formats: tuple[str, ...]
    final_invalid: bool
    decoys: int
    auto: bool
    created_at: float
    perm_key: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Change:
    """One logged write: ``indices`` are little-endian u64, ``old``/``new`` one byte each."""

    seq: int
    list_id: str
    indices: bytes
    old: bytes
    new: bytes
    at: float
    actor: str


@dataclass(slots=True)
class LoadedList:
    record: ListRecord
    counter: int
    checkpoint_seq: int
    pages: dict[int, bytes]
    changes: list[Change]


@dataclass(frozen=True, slots=True)
class StoredToken:
    list_id: str
    fmt: str
    body: bytes = field(repr=False)
    iat: int
    exp: int
    seq: int = 0  # the last change log sequence the token shows


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    key_hash: str
    issuer: str
    scope: str
    label: str
    created_at: float


class Tx(Protocol):
    """The write operations available inside :meth:`Storage.transact`."""

    def insert_list(self, record: ListRecord) -> None: ...
    def append_change(
        self, list_id: str, indices: bytes, old: bytes, new: bytes, at: float, actor: str
    ) -> int:
        """Logs a change; returns its sequence number (increasing in commit order)."""
        ...

    def set_counter(self, list_id: str, counter: int) -> None: ...
    def checkpoint(self, list_id: str, pages: Mapping[int, bytes], seq: int) -> None:
        """Stores changed bitmap pages as of log sequence ``seq``."""
        ...

    def save_token(self, token: StoredToken, archive: bool) -> None: ...
    def prune_history(self, before: float) -> None: ...
    def insert_api_key(self, record: ApiKeyRecord) -> None: ...
    def on_rollback(self, undo: Callable[[], None]) -> None:
        """Runs ``undo`` if this write does not commit (undos run newest first)."""
        ...


class Storage(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def transact(self, fn: Callable[[Tx], T]) -> T: ...
    async def quiescent(self, fn: Callable[[], T]) -> T: ...
    async def load_lists(self) -> list[LoadedList]: ...
    async def load_tokens(self) -> list[StoredToken]: ...
    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None: ...
    async def token_at(self, list_id: str, fmt: str, at: float) -> StoredToken | None: ...
    async def changes(self, list_id: str, after_seq: int, limit: int) -> list[Change]: ...
