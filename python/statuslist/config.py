"""Service settings: one frozen :class:`Settings`, built once from a TOML file, ``STATUSLIST_*``
environment variables and command-line flags (later sources win), and validated there.

A TOML file looks like::

    host = "0.0.0.0"
    port = 8080
    public_base_url = "https://status.example.com"
    data_dir = "/var/lib/statuslist"
    # database_url = "postgresql://user:pass@db:5432/statuslist"  # absent: SQLite in data_dir
    # database_pool_size = 10          # PostgreSQL connections per instance
    # database_statement_timeout = 5.0 # seconds
    publish_interval = 1.0
    token_lifetime = 86400          # seconds from iat to exp
    history_retention = 0           # seconds of ?time= history; 0 = off (501)
    # offload_dir = "/var/lib/statuslist/offload"  # also write every token here, for nginx

    [list_defaults]
    bits = 2
    size = 1048576
    ttl = 300
    formats = ["jwt", "cwt"]

    [limits]
    max_body_bytes = 67108864
    max_batch = 10000000
    max_decoys = 1000000              # decoy entries per list at creation

    [issuers.acme]
    keys = ["/etc/statuslist/acme-2026.pem", "/etc/statuslist/acme-2025.pem"]  # first signs
    chain = "/etc/statuslist/acme-chain.pem"     # optional, leaf first -> x5c / x5chain
    iss = "https://issuer.acme.example"         # optional iss claim

With no issuers configured the service runs a development setup: one issuer ``default`` whose ES256
key is generated in the data directory.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from statuslist.codec import MAX_ENTRIES
from statuslist.exceptions import ConfigError

__all__ = [
    "DEV_ISSUER",
    "ConfigError",
    "IssuerSettings",
    "Limits",
    "ListDefaults",
    "Settings",
    "load_settings",
]

#: The issuer of the development setup (no issuers configured).
DEV_ISSUER = "default"
FORMATS = ("jwt", "cwt")


@dataclass(frozen=True, slots=True)
class ListDefaults:
    """Parameters of lists created without them (including lists created by allocation)."""

    bits: int = 2
    size: int = 1 << 20
    ttl: int = 300
    formats: tuple[str, ...] = FORMATS


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one request may ask for."""

    max_body_bytes: int = 64 << 20
    max_batch: int = 10_000_000
    max_allocation: int = 1_000_000
    max_list_size: int = MAX_ENTRIES
    max_lists_per_issuer: int = 100_000
    #: Decoy entries written when a list is created (one log row holds them all).
    max_decoys: int = 1_000_000


@dataclass(frozen=True, slots=True)
class IssuerSettings:
    """One issuer: its signing keys (the first signs, all are published) and optional chain."""

    name: str
    keys: tuple[Path, ...] = ()
    chain: Path | None = None
    iss: str | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    public_base_url: str | None = None
    data_dir: Path = Path("statuslist-data")
    database_url: str | None = None  # None: SQLite in data_dir
    database_pool_size: int = 10  # connections per instance (PostgreSQL)
    database_statement_timeout: float = 5.0  # seconds (PostgreSQL)
    publish_interval: float = 1.0
    token_lifetime: int = 86_400
    history_retention: int = 0
    offload_dir: Path | None = None  # origin offload: tokens written here for nginx
    checkpoint_interval: float = 30.0
    shutdown_timeout: float = 30.0
    list_defaults: ListDefaults = field(default_factory=ListDefaults)
    limits: Limits = field(default_factory=Limits)
    issuers: tuple[IssuerSettings, ...] = ()

    @property
    def base_url(self) -> str:
        """The public base URL without a trailing slash (``sub`` and ``uri`` start with it)."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def dev_setup(self) -> bool:
        return not self.issuers

    def validate(self) -> Settings:
        _check(0 <= self.port <= 65535, "port must be 0..65535")
        _check(
            math.isfinite(self.publish_interval) and 0.01 <= self.publish_interval <= 3600,
            "publish_interval must be between 0.01 and 3600 seconds",
        )
        _check(self.token_lifetime >= 60, "token_lifetime must be at least 60 seconds")
        _check(self.history_retention >= 0, "history_retention must not be negative")
        _check(self.checkpoint_interval > 0, "checkpoint_interval must be positive")
        _check(2 <= self.database_pool_size <= 1000, "database_pool_size must be 2..1000")
        _check(
            math.isfinite(self.database_statement_timeout)
            and 0.1 <= self.database_statement_timeout <= 3600,
            "database_statement_timeout must be between 0.1 and 3600 seconds",
        )
        if self.database_url is not None:
            _check(
                self.database_url.split(":", 1)[0].lower() in ("postgresql", "postgres"),
                "database_url must be a postgresql:// URL (or unset for SQLite)",
            )

        d = self.list_defaults
        _check(d.bits in (1, 2, 4, 8), "list_defaults.bits must be 1, 2, 4 or 8")
        _check(1 <= d.size <= self.limits.max_list_size, "list_defaults.size out of range")
        _check(d.ttl >= 1, "list_defaults.ttl must be a positive number of seconds")
        _check(
            bool(d.formats) and set(d.formats) <= set(FORMATS),
            "list_defaults.formats must be a non-empty subset of jwt, cwt",
        )
        for name in ("max_body_bytes", "max_batch", "max_allocation", "max_list_size"):
            _check(getattr(self.limits, name) >= 1, f"limits.{name} must be positive")
        _check(self.limits.max_decoys >= 0, "limits.max_decoys must not be negative")
        _check(self.limits.max_list_size <= MAX_ENTRIES, f"limits.max_list_size ≤ {MAX_ENTRIES}")
        names = [i.name for i in self.issuers]
        _check(len(names) == len(set(names)), "issuer names must be unique")
        for issuer in self.issuers:
            _check(_valid_name(issuer.name), f"issuer name {issuer.name!r}: use [A-Za-z0-9_.-]")
            _check(bool(issuer.keys), f"issuer {issuer.name!r} needs at least one key file")
        if self.public_base_url is not None:
            _check(
                self.public_base_url.startswith(("http://", "https://")),
                "public_base_url must start with http:// or https://",
            )
        return self


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _valid_name(name: str) -> bool:
    return 0 < len(name) <= 64 and all(c.isalnum() or c in "_.-" for c in name)


def _section(cls: type[Any], data: Mapping[str, Any], where: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown setting(s) in {where}: {', '.join(sorted(unknown))}")
    values = dict(data)
    if "formats" in values:
        values["formats"] = tuple(values["formats"])
    return cls(**values)


def _issuers(data: Mapping[str, Any]) -> tuple[IssuerSettings, ...]:
    out = []
    for name, spec in data.items():
        if not isinstance(spec, Mapping):
            raise ConfigError(f"issuers.{name} must be a table")
        unknown = set(spec) - {"keys", "chain", "iss"}
        if unknown:
            raise ConfigError(f"unknown setting(s) in issuers.{name}: {', '.join(sorted(unknown))}")
        keys = spec.get("keys", [])
        if isinstance(keys, str):
            keys = [keys]
        chain = spec.get("chain")
        out.append(
            IssuerSettings(
                name=name,
                keys=tuple(Path(k) for k in keys),
                chain=Path(chain) if chain else None,
                iss=spec.get("iss"),
            )
        )
    return tuple(out)


_ENV: dict[str, tuple[str, type]] = {
    "STATUSLIST_HOST": ("host", str),
    "STATUSLIST_PORT": ("port", int),
    "STATUSLIST_PUBLIC_URL": ("public_base_url", str),
    "STATUSLIST_DATA": ("data_dir", Path),
    "STATUSLIST_DATABASE_URL": ("database_url", str),
    "STATUSLIST_DATABASE_POOL_SIZE": ("database_pool_size", int),
    "STATUSLIST_DATABASE_STATEMENT_TIMEOUT": ("database_statement_timeout", float),
    "STATUSLIST_PUBLISH_INTERVAL": ("publish_interval", float),
    "STATUSLIST_TOKEN_LIFETIME": ("token_lifetime", int),
    "STATUSLIST_HISTORY_RETENTION": ("history_retention", int),
    "STATUSLIST_OFFLOAD_DIR": ("offload_dir", Path),
}


def _from_mapping(data: Mapping[str, Any], base: Settings) -> Settings:
    top = {f.name for f in fields(Settings)}
    unknown = set(data) - top
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "list_defaults":
            values[key] = _section(ListDefaults, value, "list_defaults")
        elif key == "limits":
            values[key] = _section(Limits, value, "limits")
        elif key == "issuers":
            values[key] = _issuers(value)
        elif key in ("data_dir", "offload_dir"):
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{key} must be a non-empty path")
            values[key] = Path(value)
        else:
            values[key] = value
    return replace(base, **values)


def load_settings(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Settings from ``config_file`` (TOML), then ``env`` (default ``os.environ``), then
    ``overrides`` (flags; ``None`` values are ignored), validated."""
    settings = Settings()
    try:
        if config_file is not None:
            try:
                data = tomllib.loads(config_file.read_text(encoding="utf-8"))
            except OSError as exc:
                raise ConfigError(f"cannot read {config_file}: {exc.strerror}") from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{config_file}: {exc}") from None
            settings = _from_mapping(data, settings)
        env = os.environ if env is None else env
        from_env: dict[str, Any] = {}
        for var, (name, kind) in _ENV.items():
            if var in env:
                try:
                    from_env[name] = kind(env[var])
                except ValueError:
                    raise ConfigError(
                        f"{var}={env[var]!r} is not a valid {kind.__name__}"
                    ) from None
        settings = replace(settings, **from_env)
        settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    except TypeError as exc:
        raise ConfigError(f"invalid setting: {exc}") from None
    return settings.validate()
