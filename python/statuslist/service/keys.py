"""Keys: issuer API keys (creation, lookup with a bounded cache, scopes), issuers' signing keys,
and the development setup (a generated ES256 key and an admin API key, files of mode 0600)."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from statuslist.config import DEV_ISSUER, Settings
from statuslist.exceptions import ConfigError, KeyLoadError, StorageError
from statuslist.service.errors import ForbiddenError, UnauthorizedError, ValidationError
from statuslist.storage import ApiKeyRecord, Storage
from statuslist.tokens import IssuerKey, generate_private_key, jwks, load_key

__all__ = [
    "ADMIN_KEY_FILE",
    "SCOPES",
    "ApiKey",
    "ApiKeys",
    "IssuerKeys",
    "bootstrap",
    "create_api_key",
    "hash_api_key",
    "load_issuer_keys",
    "new_api_key",
    "require",
]

log = logging.getLogger("statuslist.keys")

#: API key scopes, each including the ones before it.
SCOPES = ("read", "write", "admin")
ADMIN_KEY_FILE = "admin-api-key"
DEV_KEY_FILE = Path("keys") / f"{DEV_ISSUER}.pem"
_CACHE_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class ApiKey:
    """The caller of an issuer API request: the issuer its key acts for, and its scope."""

    issuer: str
    scope: str
    label: str
    #: How the change log names this caller (computed once: every write names it).
    actor: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "actor", f"{self.issuer}:{self.label}")

    def allows(self, scope: str) -> bool:
        return self.scope == scope or SCOPES.index(self.scope) >= SCOPES.index(scope)


def require(caller: ApiKey, scope: str) -> None:
    if not caller.allows(scope):
        raise ForbiddenError(f"this {caller.scope} API key cannot do what needs {scope}")


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    return "sl_" + secrets.token_urlsafe(32)


async def create_api_key(
    storage: Storage, issuer: str, scope: str, label: str, now: float
) -> tuple[str, ApiKey]:
    """A new API key for ``issuer`` (stored as its SHA-256 only); returns the key once."""
    if scope not in SCOPES:
        raise ValidationError(f"scope must be one of {', '.join(SCOPES)}", field="scope")
    key = new_api_key()
    label = label or f"key-{key[3:11]}"
    await storage.insert_api_key(ApiKeyRecord(hash_api_key(key), issuer, scope, label, now))
    return key, ApiKey(issuer, scope, label)


class ApiKeys:
    """Looks bearer keys up (by SHA-256) in storage, with a bounded cache of known keys."""

    def __init__(self, storage: Storage, issuers: IssuerKeys) -> None:
        self._storage = storage
        self._issuers = issuers
        self._known: dict[str, ApiKey] = {}
        #: Known keys by the whole ``Authorization`` header that sent them, so that a repeated
        #: caller costs one look-up (no parsing, no hash); bounded like ``_known``.
        self._by_header: dict[str, ApiKey] = {}

    def by_header(self, header: str) -> ApiKey | None:
        """The key an ``Authorization`` header sent before authenticated as, if it did."""
        return self._by_header.get(header)

    def remember_header(self, header: str, key: ApiKey) -> None:
        """Notes that ``header`` authenticated as ``key`` (see :meth:`by_header`)."""
        if len(self._by_header) < _CACHE_LIMIT:
            self._by_header[header] = key

    async def authenticate(self, key: str) -> ApiKey:
        digest = hash_api_key(key)
        found = self._known.get(digest)
        if found is None:
            record = await self._storage.find_api_key(digest)
            if record is None or not self._issuers.knows(record.issuer):
                raise UnauthorizedError("the API key is not known")
            found = ApiKey(record.issuer, record.scope, record.label)
            if len(self._known) < _CACHE_LIMIT:
                self._known[digest] = found
        return found


class IssuerKeys:
    """Each configured issuer's keys: the first signs, all are published in the JWKS."""

    def __init__(
        self,
        keys: Mapping[str, Sequence[IssuerKey]],
        iss: Mapping[str, str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = {name: list(ks) for name, ks in keys.items()}
        self._iss = dict(iss)
        self._clock = clock
        #: Keys a reload removed, per issuer, each with the time until which it stays in the
        #: JWKS (tokens it signed may still be cached until then).
        self._retired: dict[str, list[tuple[IssuerKey, float]]] = {}

    def replace(self, new: IssuerKeys, keep_for: float) -> list[str]:
        """Takes ``new``'s keys (its first key per issuer signs from the next publish). A key
        that was published and is gone from ``new`` stays in the JWKS for ``keep_for`` seconds:
        every token it signed expires by then. Returns what changed, for the log."""
        now = self._clock()
        until = now + keep_for
        kept = {k.kid for ks in new._keys.values() for k in ks}
        changes = []
        for name, ks in self._keys.items():
            for k in ks:
                if k.kid not in kept:
                    self._retired.setdefault(name, []).append((k, until))
                    changes.append(f"{name}: key {k.kid} retired (in the JWKS until exp)")
        for name, ks in new._keys.items():
            old = self.signer(name)
            if old is None or old.kid != ks[0].kid:
                changes.append(f"{name}: key {ks[0].kid} signs from the next publish")
        for name in self._retired:  # a key that came back is current, not retired
            self._retired[name] = [(k, t) for k, t in self._retired[name] if k.kid not in kept]
        self._keys = new._keys
        self._iss = new._iss
        return changes

    def _published(self, name: str) -> list[IssuerKey]:
        now = self._clock()
        retired = [k for k, until in self._retired.get(name, ()) if until > now]
        return [*self._keys.get(name, ()), *retired]

    @property
    def issuers(self) -> list[str]:
        return list(self._keys)

    def knows(self, issuer: str) -> bool:
        return issuer in self._keys

    def signer(self, issuer: str) -> IssuerKey | None:
        keys = self._keys.get(issuer)
        return keys[0] if keys else None

    def iss(self, issuer: str) -> str | None:
        return self._iss.get(issuer)

    def jwks(self, issuer: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Every current key, and retired keys until the tokens they signed have expired."""
        names = list({**self._keys, **self._retired}) if issuer is None else [issuer]
        return jwks([k for name in names for k in self._published(name)])


def _write_private(path: Path, data: bytes) -> None:
    """Writes a new mode-0600 file whole or not at all (a full disk leaves no empty key file
    behind to be read on the next start); an existing file is never overwritten."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.link(tmp, path)  # like O_EXCL: fails if the file appeared meanwhile
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from None


def load_issuer_keys(settings: Settings) -> IssuerKeys:
    """Each configured issuer's keys (first = signing key); in the development setup the
    ``default`` issuer's key in the data directory, generated on first start."""
    iss = {i.name: i.iss for i in settings.issuers if i.iss}
    if settings.dev_setup and settings.database_url is not None:
        # The development key is generated in one data directory: instances on one database
        # would each sign with their own key and publish JWKS that the others lack.
        raise ConfigError(
            "database_url (PostgreSQL) needs issuers configured with their key files, the same "
            "on every instance (statuslist keygen --out KEY.pem; [issuers.NAME] keys = [...])"
        )
    if settings.dev_setup:
        path = settings.data_dir / DEV_KEY_FILE
        if not path.exists():
            _write_private(path, generate_private_key("ES256"))
            print(
                f"statuslist: generated a development ES256 signing key at {path}",
                file=sys.stderr,
            )
        return IssuerKeys({DEV_ISSUER: [load_key(path.read_bytes())]}, iss)
    out: dict[str, list[IssuerKey]] = {}
    for issuer in settings.issuers:
        chain = issuer.chain.read_bytes() if issuer.chain else None
        keys = []
        for n, key_path in enumerate(issuer.keys):
            try:
                data = key_path.read_bytes()
            except OSError as exc:
                raise KeyLoadError(
                    f"issuer {issuer.name}: cannot read {key_path}: {exc.strerror}"
                ) from None
            keys.append(load_key(data, chain_pem=chain if n == 0 else None))
        out[issuer.name] = keys
    return IssuerKeys(out, iss)


async def bootstrap(settings: Settings, storage: Storage) -> Path | None:
    """In the development setup, creates the admin API key file once; returns its path."""
    if not settings.dev_setup:
        return None
    path = settings.data_dir / ADMIN_KEY_FILE
    if not path.exists():
        key, _ = await create_api_key(storage, DEV_ISSUER, "admin", "dev-admin", time.time())
        _write_private(path, (key + "\n").encode())
    print(
        "statuslist: DEVELOPMENT SETUP (no issuers configured): issuer 'default' signs with a "
        f"generated key; the admin API key is in {path} (mode 0600). Configure issuers and keys "
        "before production use.",
        file=sys.stderr,
    )
    return path
