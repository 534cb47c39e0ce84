"""``serve``: run the service (the web app on aiohttp, uvloop where there is one)."""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
from pathlib import Path

from statuslist import __version__
from statuslist.config import Settings

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``serve``."""
    defaults = Settings()
    srv = subparsers.add_parser(
        "serve", help="run the service (embedded SQLite; dev setup if no config)"
    )
    srv.add_argument("--config", type=Path, default=None, help="TOML settings file")
    srv.add_argument(
        "--data", type=Path, default=None, help=f"data directory ({defaults.data_dir})"
    )
    srv.add_argument(
        "--database-url",
        default=None,
        help="postgresql://… to share a PostgreSQL database between instances (default: SQLite "
        "in the data directory)",
    )
    srv.add_argument("--host", default=None, help=f"listen address ({defaults.host})")
    srv.add_argument("--port", type=int, default=None, help=f"listen port ({defaults.port})")
    srv.add_argument("--public-url", default=None, help="public base URL (sub/uri of tokens)")
    srv.add_argument(
        "--publish-interval",
        type=float,
        default=None,
        help=f"seconds ({defaults.publish_interval})",
    )
    srv.add_argument(
        "--offload-dir",
        type=Path,
        default=None,
        help="also write every published token to this directory, for nginx to serve "
        "(deploy/nginx/offload.conf.template)",
    )
    srv.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    srv.set_defaults(handler=_serve)


#: glibc's ``mallopt`` parameter for the number of malloc arenas.
_M_ARENA_MAX = -8


def fewer_malloc_arenas(arenas: int = 2) -> bool:
    """Caps glibc's malloc arenas, before any thread starts. By default every thread that
    allocates gets an arena of its own (up to 8 per core), and the worker threads that encode,
    gzip and write hold on to freed memory in theirs: with a 100M-entry list under load the
    server's peak RSS was 130-136 MB with the default and 118-124 MB with two arenas. An operator's
    ``MALLOC_ARENA_MAX`` wins; elsewhere than glibc nothing changes."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_ARENA_MAX, arenas))


def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    fewer_malloc_arenas()

    from aiohttp import web

    from statuslist.config import load_settings
    from statuslist.web import create_app

    def read_settings() -> Settings:
        return load_settings(
            args.config,
            host=args.host,
            port=args.port,
            data_dir=args.data,
            public_base_url=args.public_url,
            publish_interval=args.publish_interval,
            database_url=args.database_url,
            offload_dir=args.offload_dir,
        )

    settings = read_settings()
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency where it exists
        loop = asyncio.new_event_loop()

    def announce(_: object) -> None:
        print(
            f"statuslist {__version__}: serving on http://{settings.host}:{settings.port} "
            f"(public URL {settings.base_url}, data in {settings.data_dir})",
            file=sys.stderr,
            flush=True,
        )

    web.run_app(
        create_app(settings, reload=read_settings),
        host=settings.host,
        port=settings.port,
        access_log=None,
        shutdown_timeout=settings.shutdown_timeout,
        print=announce,
        loop=loop,
        # Request bodies are never inflated by aiohttp (it would do so on the event loop, for any
        # route, even one that reads no body); the issuer API refuses compressed bodies (415).
        auto_decompress=False,
    )
    return 0
