"""``fetch``, ``inspect`` and ``check``: a Status List Token as a relying party sees it (as
served, decoded without verifying, and the validated status of one entry)."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any, Literal

import cbor2

from statuslist.codec import DEFAULT_MAX_BYTES, StatusList
from statuslist.exceptions import MalformedError, StatusListError

__all__ = ["register"]

#: Seconds ``fetch`` and ``check`` wait for a server.
_TIMEOUT = 10.0
#: The CWT claim key of the status_list claim.
_CWT_STATUS_LIST = 65533


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fetch``, ``inspect`` and ``check``."""
    fetch = subparsers.add_parser(
        "fetch", help="GET a Status List Token and print it (not verified)"
    )
    fetch.add_argument("url")
    fetch.add_argument("--format", choices=("jwt", "cwt"), default="jwt")
    fetch.add_argument("--out", type=Path, default=None, help="write the raw token here")
    fetch.add_argument("--timeout", type=float, default=_TIMEOUT)
    fetch.set_defaults(handler=_fetch)

    ins = subparsers.add_parser(
        "inspect", help="decode a token without verifying: claims and counts"
    )
    ins.add_argument("token", help="a JWT, CWT hex, or a file holding either (raw CWT too)")
    ins.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES)
    ins.set_defaults(handler=_inspect)

    chk = subparsers.add_parser(
        "check",
        help="validated status of one entry (spec §8.3)",
        description="Prints the entry's validated status as JSON. Exit status: 0 when it was "
        "determined (with --require-valid: only when it is VALID), 3 when --require-valid and "
        "it is not VALID, 1 when it cannot be determined (fetch, signature, token errors), 2 "
        "for usage errors.",
    )
    target = chk.add_mutually_exclusive_group(required=True)
    target.add_argument("--uri", help="status list URI (with --idx)")
    target.add_argument("--claims", type=Path, help="JSON file with a Referenced Token's claims")
    chk.add_argument("--idx", type=int, help="entry index (with --uri)")
    chk.add_argument(
        "--jwk",
        type=Path,
        action="append",
        default=[],
        help="trusted public JWK or JWK Set file (repeatable)",
    )
    chk.add_argument("--jwks-url", default=None, help="fetch trusted keys from this JWK Set")
    chk.add_argument(
        "--format",
        choices=("jwt", "cwt"),
        default=None,
        help="accept only this format (default: both, JWT preferred)",
    )
    chk.add_argument("--timeout", type=float, default=_TIMEOUT)
    chk.add_argument(
        "--require-valid",
        action="store_true",
        help="exit 3 unless the status is VALID (for shell scripts)",
    )
    chk.set_defaults(handler=_check)


def _fetch(args: argparse.Namespace) -> int:
    import asyncio

    import aiohttp

    media = f"application/statuslist+{args.format}"

    async def get() -> tuple[int, str, bytes]:
        timeout = aiohttp.ClientTimeout(total=args.timeout)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(args.url, headers={"Accept": media}, max_redirects=5) as resp,
        ):
            return resp.status, resp.content_type, await resp.read()

    try:
        status, ctype, body = asyncio.run(get())
    except aiohttp.ClientError as exc:
        raise OSError(f"GET {args.url} failed: {exc!r}") from None
    print(f"HTTP {status} {ctype} ({len(body)} bytes)", file=sys.stderr)
    if not 200 <= status < 300:
        return 1
    if args.out is not None:
        args.out.write_bytes(body)
    elif ctype.endswith("+cwt"):
        print(body.hex())
    else:
        print(body.decode("ascii", "replace"))
    return 0


def _inspect(args: argparse.Namespace) -> int:
    path = Path(args.token)
    raw = path.read_bytes() if len(args.token) < 4096 and path.is_file() else args.token.encode()
    text = raw.strip()
    try:  # the token is untrusted input: whatever is wrong with it is one typed error
        if text.count(b".") == 2 and not text.startswith(b"{"):
            out = _inspect_jwt(text, args.max_bytes)
        else:
            data = (
                bytes.fromhex(text.decode())
                if all(c in b"0123456789abcdefABCDEF" for c in text)
                else raw
            )
            out = _inspect_cwt(data, args.max_bytes)
        rendered = json.dumps(out, indent=2, default=repr)
    except StatusListError:
        raise
    except (
        ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError,
        OverflowError, cbor2.CBORDecodeError,
    ) as exc:  # fmt: skip
        detail = " ".join(str(exc).split())[:200]
        if type(exc) is not ValueError:
            detail = f"{type(exc).__name__}: {detail}"
        raise MalformedError(f"cannot inspect the token: {detail}") from None
    print(rendered)
    return 0


def _inspect_jwt(text: bytes, max_bytes: int) -> dict[str, Any]:
    h, c, _ = text.decode("ascii").split(".")
    header, claims = json.loads(_b64(h)), json.loads(_b64(c))
    sl_obj = claims.get("status_list", {})
    sl = StatusList.from_json(sl_obj, max_bytes=max_bytes)
    claims["status_list"] = {**sl_obj, "lst": f"<{len(sl_obj.get('lst', ''))} chars>"}
    return {
        "format": "jwt",
        "header": header,
        "claims": claims,
        "list": _summary(sl, len(_b64(sl_obj["lst"]))),
    }


def _inspect_cwt(data: bytes, max_bytes: int) -> dict[str, Any]:
    outer = cbor2.loads(data)
    if not isinstance(outer, cbor2.CBORTag):
        raise ValueError("not a JWT and not a tagged COSE_Sign1")
    protected, unprotected, payload, _ = outer.value
    claims = cbor2.loads(payload)
    sl_map = claims.get(_CWT_STATUS_LIST, {})
    sl = StatusList.from_cbor(cbor2.dumps(sl_map), max_bytes=max_bytes)
    return {
        "format": "cwt",
        "tag": outer.tag,
        "protected": {str(k): v for k, v in cbor2.loads(protected).items()},
        "unprotected": {
            str(k): (v.hex() if isinstance(v, bytes) else v) for k, v in unprotected.items()
        },
        "claims": {str(k): v for k, v in claims.items() if k != _CWT_STATUS_LIST},
        "list": _summary(sl, len(sl_map.get("lst", b""))),
    }


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _summary(sl: StatusList, compressed: int) -> dict[str, Any]:
    counts = {str(k): v for k, v in sorted(sl.counts().items())}
    return {"bits": sl.bits, "size": len(sl), "compressed_bytes": compressed, "counts": counts}


def _check(args: argparse.Namespace) -> int:
    from statuslist.client import StatusReference, SyncStatusListClient

    jwks: list[dict[str, Any]] = []
    for path in args.jwk:
        doc = json.loads(path.read_text())
        jwks.extend(doc.get("keys", [doc]))
    if args.uri is not None:
        if args.idx is None:
            raise ValueError("--uri needs --idx")
        ref = StatusReference(idx=args.idx, uri=args.uri)
    else:
        ref = StatusReference.from_claims(json.loads(args.claims.read_text()))
    formats: tuple[Literal["jwt", "cwt"], ...] = (args.format,) if args.format else ("jwt", "cwt")

    with SyncStatusListClient(
        trusted_jwks=jwks, jwks_url=args.jwks_url, formats=formats, timeout=args.timeout
    ) as client:
        r = client.status(ref)
    print(
        json.dumps(
            {
                "uri": ref.uri,
                "idx": ref.idx,
                "status": r.status,
                "name": r.name,
                "format": r.format,
                "iat": r.iat,
                "exp": r.exp,
                "ttl": r.ttl,
            }
        )
    )
    return 3 if args.require_valid and r.status != 0 else 0
