"""The ``statuslist`` command line: the top-level parser, dispatch, and errors as exit codes.

Each verb group is one module whose ``register(subparsers)`` adds its parsers and sets ``handler``
on every leaf; :func:`main` parses, calls ``args.handler(args)`` and turns the errors below into
one line on stderr and an exit code (never a traceback):

- :mod:`statuslist.cli.codec`: ``encode`` / ``decode`` (status_list objects);
- :mod:`statuslist.cli.keys`: ``keygen`` (a signing key);
- :mod:`statuslist.cli.relying`: ``fetch`` (get a Status List Token as served), ``inspect``
  (decode a token without verifying it: claims, bits, size, counts per status) and ``check`` (the
  validated status of one entry, as a relying party sees it);
- :mod:`statuslist.cli.serve`: ``serve`` (the service);
- :mod:`statuslist.cli.admin`: ``apikey create`` (an issuer API key, written to the data
  directory's database);
- :mod:`statuslist.cli.lists`: ``lists create|show|list`` (the issuer API of a running server);
- :mod:`statuslist.cli.loadtest`: ``loadtest`` (load a running or spawned server and report
  throughput, latency and publish lag).

Only the standard library, the codec and the settings are imported up front. aiohttp, asyncio,
the service, the web app and the load tester are imported by the handlers that use them, so
``statuslist --help``, ``encode`` and ``decode`` start fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import cbor2

from statuslist import __version__
from statuslist.cli import admin, codec, keys, lists, loadtest, relying, serve
from statuslist.exceptions import (
    ConfigError,
    LoadtestError,
    ServiceError,
    StatusListError,
    StorageError,
)

__all__ = ["build_parser", "main"]

#: Verb groups in the order their verbs are listed by ``statuslist --help``.
_GROUPS = (codec, keys, relying, serve, admin, lists, loadtest)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every verb; each leaf parser has a ``handler`` default."""
    parser = argparse.ArgumentParser(
        prog="statuslist", description="The ``statuslist`` command line."
    )
    parser.add_argument("--version", action="version", version=f"statuslist {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True)
    for group in _GROUPS:
        group.register(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``statuslist`` console script."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except Exception as exc:
        failure = _failure(exc, args.verb)
        if failure is None:
            raise
        message, code = failure
    print(f"statuslist: error: {message}", file=sys.stderr)
    return code


def _failure(exc: Exception, verb: str) -> tuple[str, int] | None:
    """The message and exit code for ``exc``, or ``None`` for a bug (it propagates)."""
    if isinstance(exc, ServiceError):
        return exc.detail, 2
    if isinstance(exc, LoadtestError | ConfigError | StorageError):
        return str(exc), 2
    if isinstance(exc, StatusListError):
        # Includes every validation failure of `check`: the entry's status is unknown.
        return f"{type(exc).__name__}: {exc}", 1 if verb == "check" else 2
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"cannot use {exc.filename}: {exc.strerror or exc}", 2
    if isinstance(exc, OSError | ValueError | KeyError | cbor2.CBORDecodeError):
        return str(exc), 2
    return None
