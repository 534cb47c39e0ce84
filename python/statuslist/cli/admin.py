"""``apikey create`` (an issuer API key, written straight to the database) and ``db migrate``
(the schema brought up to date, e.g. as a deploy job before the instances start)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from statuslist.config import DEV_ISSUER

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``apikey create``."""
    apikey = subparsers.add_parser("apikey", help="issuer API keys")
    verbs = apikey.add_subparsers(dest="apikey_verb", required=True)
    create = verbs.add_parser("create", help="create an API key and print it (shown once)")
    create.add_argument("--config", type=Path, default=None)
    create.add_argument("--data", type=Path, default=None)
    create.add_argument("--database-url", default=None, help="postgresql://… (default: SQLite)")
    create.add_argument(
        "--issuer", default=None, help=f"issuer the key acts for (dev: {DEV_ISSUER})"
    )
    create.add_argument("--scope", choices=("read", "write", "admin"), default="write")
    create.add_argument("--label", default="", help="name shown in the change log")
    create.set_defaults(handler=_create)

    db = subparsers.add_parser("db", help="the database")
    db_verbs = db.add_subparsers(dest="db_verb", required=True)
    migrate = db_verbs.add_parser(
        "migrate", help="apply pending schema migrations (instances also do on start)"
    )
    migrate.add_argument("--config", type=Path, default=None)
    migrate.add_argument("--data", type=Path, default=None)
    migrate.add_argument("--database-url", default=None, help="postgresql://… (default: SQLite)")
    migrate.set_defaults(handler=_migrate)


def _migrate(args: argparse.Namespace) -> int:
    import asyncio

    from statuslist.config import load_settings
    from statuslist.storage import open_storage

    settings = load_settings(args.config, data_dir=args.data, database_url=args.database_url)

    async def run() -> None:
        storage = open_storage(settings)
        await storage.open()  # opening migrates, under the migration lock
        await storage.close()

    asyncio.run(run())
    where = settings.database_url or str(settings.data_dir)
    print(f"statuslist: the schema of {_redact(where)} is up to date", file=sys.stderr)
    return 0


def _redact(url: str) -> str:
    """``url`` without a password."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    cred, _, host = rest.rpartition("@")
    return f"{scheme}://{cred.split(':')[0]}:***@{host}" if ":" in cred else url


def _create(args: argparse.Namespace) -> int:
    import asyncio
    import time

    from statuslist.config import load_settings
    from statuslist.service import create_api_key
    from statuslist.storage import open_storage

    settings = load_settings(args.config, data_dir=args.data, database_url=args.database_url)
    issuers = [i.name for i in settings.issuers] or [DEV_ISSUER]
    issuer = args.issuer or (issuers[0] if len(issuers) == 1 else None)
    if issuer not in issuers:
        raise ValueError(f"--issuer must be one of: {', '.join(issuers)}")

    async def create() -> str:
        storage = open_storage(settings)
        await storage.open()
        try:
            key, _ = await create_api_key(storage, issuer, args.scope, args.label, time.time())
        finally:
            await storage.close()
        return key

    key = asyncio.run(create())
    print(key)
    print(
        f"created a {args.scope} API key for issuer {issuer!r}; it is shown only now",
        file=sys.stderr,
    )
    return 0
