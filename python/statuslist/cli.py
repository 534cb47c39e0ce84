"""The ``statuslist`` command line.

Verbs: ``encode`` / ``decode`` (status_list objects), ``keygen`` (a signing key), ``fetch`` (get a
Status List Token as served), ``inspect`` (decode a token without verifying it: claims, bits,
size, counts per status) and ``check`` (the validated status of one entry, as a relying party
sees it). ``serve`` and ``loadtest`` arrive with the service.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import cbor2

from statuslist import __version__
from statuslist.codec import DEFAULT_MAX_BYTES, StatusList
from statuslist.exceptions import StatusListError

__all__ = ["main"]


def _parse_assignment(text: str) -> tuple[int, int]:
    idx, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected IDX=STATUS, got {text!r}")
    try:
        return int(idx), int(value, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers in IDX=STATUS, got {text!r}") from None


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="statuslist", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"statuslist {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True)

    enc = verbs.add_parser("encode", help="build a status list and print its status_list object")
    enc.add_argument("--size", type=int, required=True, help="number of entries")
    enc.add_argument("--bits", type=int, default=1, help="bits per entry: 1, 2, 4 or 8")
    enc.add_argument(
        "--set",
        dest="assignments",
        type=_parse_assignment,
        action="append",
        default=[],
        metavar="IDX=STATUS",
        help="set one entry (repeatable)",
    )
    enc.add_argument(
        "--format",
        choices=("json", "cbor"),
        default="json",
        help="json prints the §4.2 object; cbor prints the §4.3 map as hex",
    )
    enc.add_argument("--aggregation-uri", default=None)

    dec = verbs.add_parser("decode", help="read a status_list object and print counts per status")
    dec.add_argument("source", help="JSON text, CBOR hex, a file path, or - for stdin")
    dec.add_argument(
        "--max-bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        help="refuse lists that inflate to more bytes than this",
    )

    key = verbs.add_parser("keygen", help="create a private signing key (0600) and print its JWK")
    key.add_argument("--alg", choices=("ES256", "ES384", "EdDSA", "PS256"), default="ES256")
    key.add_argument("--out", required=True, type=Path, help="private key file to create (PEM)")
    key.add_argument("--kid", default=None, help="key id (default: RFC 7638 thumbprint)")
    key.add_argument("--force", action="store_true", help="overwrite an existing file")

    fetch = verbs.add_parser("fetch", help="GET a Status List Token and print it (not verified)")
    fetch.add_argument("url")
    fetch.add_argument("--format", choices=("jwt", "cwt"), default="jwt")
    fetch.add_argument("--out", type=Path, default=None, help="write the raw token here")
    fetch.add_argument("--timeout", type=float, default=10.0)

    ins = verbs.add_parser("inspect", help="decode a token without verifying: claims and counts")
    ins.add_argument("token", help="a JWT, CWT hex, or a file holding either (raw CWT too)")
    ins.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES)

    chk = verbs.add_parser("check", help="validated status of one entry (spec §8.3)")
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
    chk.add_argument("--timeout", type=float, default=10.0)
    return parser


def _read_source(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    if source.lstrip().startswith("{") or all(c in "0123456789abcdefABCDEF" for c in source):
        return source
    with open(source, encoding="utf-8") as fh:
        return fh.read()


def _keygen(args: argparse.Namespace) -> int:
    from statuslist.tokens import generate_private_key, load_key

    pem = generate_private_key(args.alg)
    key = load_key(pem, args.kid)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if args.force else os.O_EXCL)
    try:
        fd = os.open(args.out, flags, 0o600)
    except FileExistsError:
        raise OSError(f"{args.out} exists; pass --force to overwrite it") from None
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(pem)
    print(json.dumps(key.public_jwk))
    print(f"wrote {args.alg} private key to {args.out} (mode 0600)", file=sys.stderr)
    return 0


def _fetch(args: argparse.Namespace) -> int:
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


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _summary(sl: StatusList, compressed: int) -> dict[str, Any]:
    counts = {str(k): v for k, v in sorted(sl.counts().items())}
    return {"bits": sl.bits, "size": len(sl), "compressed_bytes": compressed, "counts": counts}


def _inspect(args: argparse.Namespace) -> int:
    raw: bytes
    path = Path(args.token)
    raw = path.read_bytes() if len(args.token) < 4096 and path.is_file() else args.token.encode()
    text = raw.strip()
    if text.count(b".") == 2 and not text.startswith(b"{"):
        h, c, _ = text.decode("ascii").split(".")
        header, claims = json.loads(_b64(h)), json.loads(_b64(c))
        sl_obj = claims.get("status_list", {})
        sl = StatusList.from_json(sl_obj, max_bytes=args.max_bytes)
        claims["status_list"] = {**sl_obj, "lst": f"<{len(sl_obj.get('lst', ''))} chars>"}
        out = {
            "format": "jwt",
            "header": header,
            "claims": claims,
            "list": _summary(sl, len(_b64(sl_obj["lst"]))),
        }
    else:
        data = (
            bytes.fromhex(text.decode())
            if all(c in b"0123456789abcdefABCDEF" for c in text)
            else raw
        )
        outer = cbor2.loads(data)
        if not isinstance(outer, cbor2.CBORTag):
            raise ValueError("not a JWT and not a tagged COSE_Sign1")
        protected, unprotected, payload, _ = outer.value
        claims = cbor2.loads(payload)
        sl_map = claims.get(65533, {})
        sl = StatusList.from_cbor(cbor2.dumps(sl_map), max_bytes=args.max_bytes)
        shown = {str(k): v for k, v in claims.items() if k != 65533}
        out = {
            "format": "cwt",
            "tag": outer.tag,
            "protected": {str(k): v for k, v in cbor2.loads(protected).items()},
            "unprotected": {
                str(k): (v.hex() if isinstance(v, bytes) else v) for k, v in unprotected.items()
            },
            "claims": shown,
            "list": _summary(sl, len(sl_map.get("lst", b""))),
        }
    print(json.dumps(out, indent=2, default=str))
    return 0


def _check(args: argparse.Namespace) -> int:
    from statuslist.client import StatusListClient, StatusReference

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

    async def run() -> dict[str, Any]:
        async with StatusListClient(
            trusted_jwks=jwks, jwks_url=args.jwks_url, formats=formats, timeout=args.timeout
        ) as client:
            r = await client.status(ref)
            return {
                "uri": ref.uri,
                "idx": ref.idx,
                "status": r.status,
                "name": r.name,
                "format": r.format,
                "iat": r.iat,
                "exp": r.exp,
                "ttl": r.ttl,
            }

    print(json.dumps(asyncio.run(run())))
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.verb == "keygen":
        return _keygen(args)
    if args.verb == "fetch":
        return _fetch(args)
    if args.verb == "inspect":
        return _inspect(args)
    if args.verb == "check":
        return _check(args)
    if args.verb == "encode":
        sl = StatusList(args.size, args.bits)
        if args.assignments:
            idx, values = zip(*args.assignments, strict=True)
            sl.set_many(idx, values)
        if args.format == "json":
            print(sl.to_json(args.aggregation_uri))
        else:
            print(sl.to_cbor(args.aggregation_uri).hex())
        return 0
    text = _read_source(args.source).strip()
    if text.startswith("{"):
        sl = StatusList.from_json(text, max_bytes=args.max_bytes)
    else:
        sl = StatusList.from_cbor(bytes.fromhex(text), max_bytes=args.max_bytes)
    counts = {str(k): v for k, v in sorted(sl.counts().items())}
    print(json.dumps({"bits": sl.bits, "size": len(sl), "counts": counts}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``statuslist`` console script."""
    args = _build_parser().parse_args(argv)
    try:
        return _run(args)
    except StatusListError as exc:
        # Includes every validation failure of `check`: the entry's status is unknown.
        print(f"statuslist: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1 if args.verb == "check" else 2
    except (OSError, ValueError, KeyError, cbor2.CBORDecodeError) as exc:
        print(f"statuslist: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
