"""``lists create|show|list``: the status lists of a running server, through its issuer API."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from statuslist.config import Settings

__all__ = ["register"]

#: The admin key the dev setup writes to the data directory (``statuslist.service.ADMIN_KEY_FILE``;
#: importing that would load the service to build the parser).
_ADMIN_KEY_FILE = "admin-api-key"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``lists create``, ``lists show`` and ``lists list``."""
    lists = subparsers.add_parser("lists", help="status lists of a running server (issuer API)")
    verbs = lists.add_subparsers(dest="lists_verb", required=True)

    create = _add(verbs, "create", "create a list", _create)
    create.add_argument("--bits", type=int, default=None)
    create.add_argument("--size", type=int, default=None)
    create.add_argument("--ttl", type=int, default=None)
    create.add_argument("--formats", default=None, help="comma-separated: jwt,cwt")
    create.add_argument("--final-invalid", action="store_true", help="INVALID is final")
    create.add_argument("--decoys", type=int, default=None)

    show = _add(verbs, "show", "one list: metadata, counts, publish state", _show)
    show.add_argument("list_id")

    _add(verbs, "list", "the issuer's lists", _list)


def _add(
    verbs: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    text: str,
    handler: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    """One ``lists`` verb with the options they all take: where the server is, and the key."""
    defaults = Settings()
    sub = verbs.add_parser(name, help=text)
    sub.add_argument("--url", default=None, help=f"server base URL ({defaults.base_url})")
    sub.add_argument(
        "--api-key",
        default=None,
        help=f"bearer key (default: $STATUSLIST_API_KEY, else DATA/{_ADMIN_KEY_FILE})",
    )
    sub.add_argument("--data", type=Path, default=defaults.data_dir)
    sub.add_argument("--timeout", type=float, default=30.0)
    sub.set_defaults(handler=handler)
    return sub


def _create(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        k: v
        for k, v in (
            ("bits", args.bits),
            ("size", args.size),
            ("ttl", args.ttl),
            ("decoys", args.decoys),
        )
        if v is not None
    }
    if args.formats:
        body["formats"] = [f.strip() for f in args.formats.split(",")]
    if args.final_invalid:
        body["final_invalid"] = True
    return _call(args, "POST", "/v1/lists", body)


def _show(args: argparse.Namespace) -> int:
    return _call(args, "GET", f"/v1/lists/{args.list_id}", {})


def _list(args: argparse.Namespace) -> int:
    return _call(args, "GET", "/v1/lists", {})


def _call(args: argparse.Namespace, method: str, path: str, body: dict[str, Any]) -> int:
    """Send one issuer API request; print the JSON answer, and the problem detail on an error."""
    import asyncio

    import aiohttp

    base = (args.url or os.environ.get("STATUSLIST_URL") or Settings().base_url).rstrip("/")
    key = args.api_key or os.environ.get("STATUSLIST_API_KEY")
    if key is None:
        key_path = args.data / _ADMIN_KEY_FILE
        try:
            key = key_path.read_text().strip()
        except OSError:
            raise ValueError(
                f"no API key: pass --api-key, set STATUSLIST_API_KEY or {key_path}"
            ) from None
    url = f"{base}{path}"

    async def call() -> tuple[int, Any]:
        timeout = aiohttp.ClientTimeout(total=args.timeout)
        headers = {"Authorization": f"Bearer {key}"}
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(method, url, json=body or None, headers=headers) as resp,
        ):
            return resp.status, json.loads(await resp.read() or b"null")

    try:
        status, doc = asyncio.run(call())
    except aiohttp.ClientError as exc:
        raise OSError(f"{method} {url} failed: {exc!r}") from None
    print(json.dumps(doc, indent=2))
    if status >= 400:
        detail = doc.get("detail") if isinstance(doc, dict) else doc
        print(f"statuslist: error: HTTP {status}: {detail}", file=sys.stderr)
        return 1
    return 0
