"""``apikey create``: an issuer API key, written straight to the data directory's database."""

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
    create.add_argument(
        "--issuer", default=None, help=f"issuer the key acts for (dev: {DEV_ISSUER})"
    )
    create.add_argument("--scope", choices=("read", "write", "admin"), default="write")
    create.add_argument("--label", default="", help="name shown in the change log")
    create.set_defaults(handler=_create)


def _create(args: argparse.Namespace) -> int:
    import asyncio
    import time

    from statuslist.config import load_settings
    from statuslist.service import create_api_key
    from statuslist.storage import open_storage

    settings = load_settings(args.config, data_dir=args.data)
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
