"""Keys and the development setup: loading each issuer's signing keys, and for a data directory
without configured issuers, a generated ES256 key and an admin API key (files of mode 0600)."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from statuslist.config import DEV_ISSUER, Settings
from statuslist.exceptions import KeyLoadError
from statuslist.storage import Storage
from statuslist.tokens import IssuerKey, generate_private_key, load_key

__all__ = ["ADMIN_KEY_FILE", "DB_FILE", "bootstrap", "load_issuer_keys"]

log = logging.getLogger("statuslist.setup")

DB_FILE = "statuslist.db"
ADMIN_KEY_FILE = "admin-api-key"
DEV_KEY_FILE = Path("keys") / f"{DEV_ISSUER}.pem"


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def load_issuer_keys(settings: Settings) -> dict[str, list[IssuerKey]]:
    """Each configured issuer's keys (first = signing key); in the development setup the
    ``default`` issuer's key in the data directory, generated on first start."""
    if settings.dev_setup:
        path = settings.data_dir / DEV_KEY_FILE
        if not path.exists():
            _write_private(path, generate_private_key("ES256"))
            print(
                f"statuslist: generated a development ES256 signing key at {path}",
                file=sys.stderr,
            )
        return {DEV_ISSUER: [load_key(path.read_bytes())]}
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
    return out


async def bootstrap(settings: Settings, storage: Storage) -> Path | None:
    """In the development setup, creates the admin API key file once; returns its path."""
    if not settings.dev_setup:
        return None
    from statuslist.service.core import create_api_key

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
