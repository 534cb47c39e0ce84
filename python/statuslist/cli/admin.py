"""``apikey create`` (an issuer API key, written straight to the database), ``db migrate``
(the schema brought up to date, e.g. as a deploy job before the instances start) and
``backup`` (a consistent copy of the embedded database, taken while the server runs)."""

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

    backup = subparsers.add_parser(
        "backup",
        help="copy the embedded SQLite store consistently while the server runs",
        description="Copies the data directory's database (with what is still in its -wal "
        "file) into DEST, a new directory, using SQLite's online backup; checks the copy; "
        "copies the development key and admin key files too. `statuslist serve --data DEST` "
        "serves the copy. PostgreSQL is backed up with its own tools (deploy/README.md).",
    )
    backup.add_argument("dest", type=Path, help="new directory for the copy")
    backup.add_argument("--config", type=Path, default=None)
    backup.add_argument("--data", type=Path, default=None, help="data directory to back up")
    backup.add_argument("--database-url", default=None, help=argparse.SUPPRESS)
    backup.set_defaults(handler=_backup)


def _backup(args: argparse.Namespace) -> int:
    import shutil
    import time

    from statuslist.config import load_settings
    from statuslist.exceptions import StorageError
    from statuslist.service.keys import ADMIN_KEY_FILE, DEV_KEY_FILE
    from statuslist.storage import DB_FILE
    from statuslist.storage.sqlite import backup

    settings = load_settings(args.config, data_dir=args.data, database_url=args.database_url)
    if settings.database_url is not None:
        raise StorageError(
            "backup copies the embedded SQLite store; back PostgreSQL up with pg_dump or base "
            "backups (deploy/README.md, Backups)"
        )
    dest: Path = args.dest
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise StorageError(f"{dest} exists and is not an empty directory")
    started = time.monotonic()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 1.0 or done == total:
            last[0] = now
            pct = 100 * done // max(total, 1)
            print(f"statuslist: backup {done}/{total} pages ({pct}%)", file=sys.stderr, flush=True)

    try:
        dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StorageError(f"cannot create {dest}: {exc.strerror}") from None
    try:
        report = backup(settings.data_dir / DB_FILE, dest / DB_FILE, progress)
        copied = []
        for name in (DEV_KEY_FILE, Path(ADMIN_KEY_FILE)):
            src = settings.data_dir / name
            if src.is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                shutil.copy2(src, dest / name)
                copied.append(str(name))
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    print(
        f"statuslist: backed up {report.lists} lists ({report.pages} bitmap pages, "
        f"{report.changes} log rows, {report.bytes} bytes) to {dest / DB_FILE} in "
        f"{time.monotonic() - started:.1f} s; every checksum verified"
        + (f"; also copied {', '.join(copied)}" if copied else ""),
        file=sys.stderr,
    )
    if not settings.dev_setup:
        print(
            "statuslist: issuer keys and the configuration live outside the data directory: "
            "back them up separately",
            file=sys.stderr,
        )
    if report.damaged:
        for line in report.damaged:
            print(f"statuslist: warning: damaged in the source too: {line}", file=sys.stderr)
        return 1
    return 0


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
