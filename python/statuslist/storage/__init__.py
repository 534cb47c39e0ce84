"""Durable storage: the domain operations the service needs, their records, and the factory.

Storage knows nothing of the service: it runs no service code, holds no in-memory list state, and
answers each operation once it is durable (a 2xx after it is never lost). The service changes its
memory *after* an operation has committed. Operations:

- **writes**, each atomic and durable when its awaitable completes: :meth:`Storage.append` (status
  changes, possibly of several lists, all or nothing), :meth:`Storage.insert_list`,
  :meth:`Storage.reserve` (allocation counters are bumped in the database, never in memory),
  :meth:`Storage.save_tokens`, :meth:`Storage.checkpoint`, :meth:`Storage.insert_api_key`. A write
  is *submitted when called*: two writes called one after the other commit in that order.
- **the change log**, in sequence order: :meth:`Storage.changes` (one list, the audit feed),
  :meth:`Storage.changes_after` (every list: what another instance follows) and
  :meth:`Storage.wait_changes` (wakes when the log grows);
- **loading** on start: list metadata, the bitmap pages of the last checkpoint with the change log
  after it (replayed by the service), the last published tokens, API keys.

Layout (SQLite and PostgreSQL alike): ``lists`` (metadata, allocation counter, checkpoint
sequence), ``pages`` (the bitmap in :data:`PAGE_BYTES` pages as of the checkpoint), ``changes``
(append-only log: one row per write with the indices, old and new values, time and actor; the
audit trail), ``tokens`` (the latest signed token per list and format), ``token_history``
(published tokens kept for ``?time=``), ``api_keys`` (SHA-256 of each key, its issuer and scope).

:func:`open_storage` is the one place that picks a backend, from ``Settings.database_url``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from statuslist.codec import CHUNK_BYTES
from statuslist.exceptions import ConfigError, DiskFullError, StorageError

if TYPE_CHECKING:
    from statuslist.config import Settings

__all__ = [
    "DB_FILE",
    "PAGE_BYTES",
    "ApiKeyRecord",
    "Change",
    "Checkpoint",
    "DiskFullError",
    "ListRecord",
    "LoadedList",
    "NewChange",
    "StaleWriteError",
    "Storage",
    "StorageError",
    "StoredToken",
    "open_storage",
]

#: The SQLite file in the data directory.
DB_FILE = "statuslist.db"


class StaleWriteError(StorageError):
    """Another instance logged a change to these lists since the caller last looked."""

    def __init__(self, list_ids: Sequence[str]) -> None:
        super().__init__(f"lists changed elsewhere meanwhile: {', '.join(list_ids)}")
        self.list_ids = tuple(list_ids)


#: Bitmap page size in storage; equal to the encoder's chunk so a page maps to one chunk.
PAGE_BYTES = CHUNK_BYTES


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
    #: Why the stored list cannot be trusted (a page or log row failed its checksum, the rows
    #: could not be read), or ``None``. The service does not serve a damaged list.
    damage: str | None = None


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


@dataclass(slots=True)  # built once per write: not frozen, which costs more to build
class NewChange:
    """A change to log: ``indices`` little-endian u64, ``old``/``new`` one byte per index."""

    list_id: str
    indices: bytes = field(repr=False)
    old: bytes = field(repr=False)
    new: bytes = field(repr=False)
    at: float
    actor: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Bitmap pages of one list as of log sequence ``seq`` (changes after it are replayed)."""

    list_id: str
    pages: Mapping[int, bytes] = field(repr=False)
    seq: int


class Storage(Protocol):
    """What the service needs of a database. See the module docstring for the guarantees."""

    #: Transactions committed and writes carried by them (group commit shows as fewer commits).
    commits: int
    writes: int
    #: True when other instances write to the same database (PostgreSQL): the service then
    #: follows the log, checks ``expect`` on appends and publishes only while it leads.
    shared: bool

    async def open(self) -> None: ...
    async def close(self) -> None:
        """Commits everything submitted, then closes. Idempotent."""
        ...

    def append(
        self, changes: Sequence[NewChange], expect: Mapping[str, int] | None = None
    ) -> Awaitable[list[int]]:
        """Logs ``changes`` atomically; their sequence numbers (increasing in commit order).

        ``expect`` maps list ids to the last sequence number the caller has seen logged for
        them: if another writer logged a change to one of them since, nothing is written and
        :class:`StaleWriteError` names the lists (the caller catches up and tries again). A
        backend with a single writer may ignore it."""
        ...

    def insert_list(self, record: ListRecord, decoys: NewChange | None = None) -> Awaitable[int]:
        """Creates a list (and logs its decoy entries); the decoys' sequence number or 0."""
        ...

    def reserve(self, list_id: str, count: int, limit: int) -> Awaitable[tuple[int, int]]:
        """Bumps the list's allocation counter by up to ``count`` without passing ``limit``;
        ``(first, n)``: the counter values ``first .. first + n - 1`` are the caller's alone."""
        ...

    def save_tokens(
        self, tokens: Sequence[StoredToken], *, archive_until: float | None = None
    ) -> Awaitable[None]:
        """Stores the latest tokens; with ``archive_until``, also archives them for ``?time=``
        and drops archived tokens that expired before that time."""
        ...

    def checkpoint(self, items: Sequence[Checkpoint]) -> Awaitable[None]: ...
    def insert_api_key(self, record: ApiKeyRecord) -> Awaitable[None]: ...
    async def load_lists(self) -> list[LoadedList]: ...
    async def load_tokens(self) -> list[StoredToken]: ...
    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None: ...
    async def token_at(self, list_id: str, fmt: str, at: float) -> StoredToken | None: ...
    async def changes(self, list_id: str, after_seq: int, limit: int) -> list[Change]:
        """One list's logged changes after ``after_seq``, oldest first."""
        ...

    async def changes_after(self, after_seq: int, limit: int) -> list[Change]:
        """Every list's logged changes after ``after_seq``, oldest first."""
        ...

    async def wait_changes(self, after_seq: int, within: float) -> int:
        """The last committed sequence number, once it is past ``after_seq`` or ``within``
        seconds have passed (then it may still be ``after_seq``)."""
        ...

    # -- several instances (``shared`` backends; a single-writer backend answers trivially) ----

    async def load_list(self, list_id: str) -> LoadedList | None:
        """One list as :meth:`load_lists` loads it (a list another instance created)."""
        ...

    async def list_ids(self) -> list[str]: ...
    async def tokens_after(self, version: int) -> tuple[int, list[StoredToken]]:
        """Tokens stored after ``version`` (by any instance) and the version now reached."""
        ...

    async def lead(self) -> bool:
        """Whether this instance may publish now (one instance at a time; another takes over
        when the leader dies)."""
        ...

    async def wait_event(self, within: float) -> set[str]:
        """Waits up to ``within`` seconds for another instance's news: ``changes``, ``lists``,
        ``tokens`` or ``publish:<list id>`` (a request that the leader publish that list)."""
        ...

    async def request_publish(self, list_id: str) -> None:
        """Asks the leading instance to publish ``list_id`` now."""
        ...

    def health(self) -> str | None:
        """Why the database is unusable right now, or None."""
        ...


def open_storage(settings: Settings, *, server: bool = False) -> Storage:
    """The storage ``settings`` ask for, not yet opened: SQLite in the data directory unless
    ``database_url`` names another database. A ``server`` holds an embedded database alone (a
    second server on it is refused)."""
    url = settings.database_url
    if url is None:
        from statuslist.storage.sqlite import SQLiteStorage

        return SQLiteStorage(settings.data_dir / DB_FILE, exclusive=server)
    scheme = url.partition(":")[0].lower()
    if scheme in ("postgresql", "postgres"):
        from statuslist.storage.postgres import PostgresStorage

        return PostgresStorage(
            url,
            pool_size=settings.database_pool_size,
            statement_timeout=settings.database_statement_timeout,
        )
    raise ConfigError(
        f"database_url: unknown scheme {scheme!r}: use postgresql://… or leave it unset for the "
        "embedded SQLite database"
    )
