"""The ``statuslist`` command line.

Verbs: ``encode`` / ``decode`` (status_list objects), ``keygen`` (a signing key), ``fetch`` (get a
Status List Token as served), ``inspect`` (decode a token without verifying it: claims, bits,
size, counts per status), ``check`` (the validated status of one entry, as a relying party
sees it), ``serve`` (the service), ``apikey create`` (an issuer API key, written to the data
directory's database), ``lists create|show|list`` (the issuer API of a running server) and
``loadtest`` (load a running or spawned server and report throughput, latency and publish lag).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import cbor2

from statuslist import __version__
from statuslist.codec import DEFAULT_MAX_BYTES, StatusList
from statuslist.exceptions import StatusListError
from statuslist.loadtest.runner import LoadtestError
from statuslist.service.errors import ServiceError

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

    srv = verbs.add_parser(
        "serve", help="run the service (embedded SQLite; dev setup if no config)"
    )
    srv.add_argument("--config", type=Path, default=None, help="TOML settings file")
    srv.add_argument("--data", type=Path, default=None, help="data directory (statuslist-data)")
    srv.add_argument("--host", default=None, help="listen address (127.0.0.1)")
    srv.add_argument("--port", type=int, default=None, help="listen port (8080)")
    srv.add_argument("--public-url", default=None, help="public base URL (sub/uri of tokens)")
    srv.add_argument("--publish-interval", type=float, default=None, help="seconds (1.0)")
    srv.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))

    apikey = verbs.add_parser("apikey", help="issuer API keys")
    apikey_verbs = apikey.add_subparsers(dest="apikey_verb", required=True)
    akc = apikey_verbs.add_parser("create", help="create an API key and print it (shown once)")
    akc.add_argument("--config", type=Path, default=None)
    akc.add_argument("--data", type=Path, default=None)
    akc.add_argument("--issuer", default=None, help="issuer the key acts for (dev: default)")
    akc.add_argument("--scope", choices=("read", "write", "admin"), default="write")
    akc.add_argument("--label", default="", help="name shown in the change log")

    lists = verbs.add_parser("lists", help="status lists of a running server (issuer API)")
    lists_verbs = lists.add_subparsers(dest="lists_verb", required=True)
    for name, text in (
        ("create", "create a list"),
        ("show", "one list: metadata, counts, publish state"),
        ("list", "the issuer's lists"),
    ):
        sub = lists_verbs.add_parser(name, help=text)
        sub.add_argument("--url", default=None, help="server base URL (http://127.0.0.1:8080)")
        sub.add_argument(
            "--api-key",
            default=None,
            help="bearer key (default: $STATUSLIST_API_KEY, else DATA/admin-api-key)",
        )
        sub.add_argument("--data", type=Path, default=Path("statuslist-data"))
        sub.add_argument("--timeout", type=float, default=30.0)
        if name == "show":
            sub.add_argument("list_id")
        if name == "create":
            sub.add_argument("--bits", type=int, default=None)
            sub.add_argument("--size", type=int, default=None)
            sub.add_argument("--ttl", type=int, default=None)
            sub.add_argument("--formats", default=None, help="comma-separated: jwt,cwt")
            sub.add_argument("--final-invalid", action="store_true", help="INVALID is final")
            sub.add_argument("--decoys", type=int, default=None)
    _add_loadtest(verbs)
    return parser


def _count(text: str) -> int:
    from statuslist.loadtest import parse_count

    try:
        return parse_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_loadtest(verbs: Any) -> None:
    lt = verbs.add_parser(
        "loadtest",
        help="load a running server (or a spawned one) and report throughput, latency, lag",
        description="Creates lists, allocates, revokes (single PUT and batch PATCH) and fetches "
        "tokens concurrently against --url (or a fresh local server with --spawn); reports "
        "throughput, latency p50/p90/p99/max, errors by status code, bytes and publish lag. "
        "Counts accept 200k, 10M, 1e6. It creates lists on the server and revokes only entries "
        "it allocated itself.",
    )
    target = lt.add_argument_group("target")
    target.add_argument("--url", default=None, help="base URL of a running statuslist server")
    target.add_argument(
        "--api-key", default=None, help="write-scoped bearer key (default: $STATUSLIST_API_KEY)"
    )
    target.add_argument(
        "--spawn", action="store_true", help="start a fresh local server in a temp dir, then stop"
    )
    target.add_argument(
        "--fetch-url", default=None, help="allow fetching tokens under this base (a CDN)"
    )
    target.add_argument("--publish-interval", type=float, default=None, help="(--spawn) seconds")
    target.add_argument("--server-config", type=Path, default=None, help="(--spawn) TOML file")
    target.add_argument("--keep-data", action="store_true", help="(--spawn) keep the data dir")
    work = lt.add_argument_group("scenario")
    work.add_argument("--lists", type=_count, default=1, help="lists to create (1)")
    work.add_argument("--entries", type=_count, default=1_000_000, help="entries per list (1M)")
    work.add_argument("--bits", type=int, default=1, help="bits per entry (1)")
    work.add_argument(
        "--allocations", type=_count, default=None, help="entries to allocate (= revocations)"
    )
    work.add_argument(
        "--allocation-batch", type=_count, default=10_000, help="entries per allocation (10k)"
    )
    work.add_argument("--revocations", type=_count, default=100_000, help="entries (100k)")
    work.add_argument("--batch-size", type=_count, default=1_000, help="entries per PATCH (1000)")
    work.add_argument(
        "--single-share",
        type=float,
        default=0.05,
        help="fraction of revocations sent as single-entry PUTs (0.05)",
    )
    work.add_argument("--batch-encoding", choices=("json", "binary"), default="json")
    work.add_argument("--rate", type=float, default=None, help="revocations/s (max speed)")
    work.add_argument("--concurrency", type=int, default=32, help="writer requests in flight (32)")
    work.add_argument("--fetchers", type=int, default=10, help="concurrent token fetchers (10)")
    work.add_argument("--fetches", type=_count, default=None, help="stop after this many GETs")
    work.add_argument("--formats", default="jwt,cwt", help="token formats to fetch (jwt,cwt)")
    work.add_argument(
        "--conditional-share",
        type=float,
        default=0.5,
        help="fraction of fetches sent with If-None-Match (0.5)",
    )
    work.add_argument("--lag-samples", type=_count, default=100, help="revocations sampled (100)")
    work.add_argument("--lag-poll", type=float, default=0.05, help="lag poll seconds (0.05)")
    work.add_argument("--lag-timeout", type=float, default=30.0, help="seconds (30)")
    work.add_argument("--duration", type=float, default=60.0, help="window in seconds (60)")
    work.add_argument("--timeout", type=float, default=60.0, help="per request, seconds (60)")
    out = lt.add_argument_group("output")
    out.add_argument("--json", type=Path, default=None, help="write every figure here")
    out.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="live progress line on stderr (auto: when stderr is a terminal)",
    )


def _loadtest(args: argparse.Namespace) -> int:
    from statuslist.loadtest import Scenario, execute

    sc = Scenario(
        url=args.url,
        api_key=args.api_key or (os.environ.get("STATUSLIST_API_KEY") if args.url else None),
        spawn=args.spawn,
        fetch_url=args.fetch_url,
        lists=args.lists,
        entries=args.entries,
        bits=args.bits,
        allocations=args.allocations,
        allocation_batch=args.allocation_batch,
        revocations=args.revocations,
        batch_size=args.batch_size,
        single_share=args.single_share,
        batch_encoding=args.batch_encoding,
        rate=args.rate,
        concurrency=args.concurrency,
        fetchers=args.fetchers,
        fetches=args.fetches,
        formats=tuple(f.strip() for f in args.formats.split(",") if f.strip()),
        conditional_share=args.conditional_share,
        lag_samples=args.lag_samples,
        lag_poll=args.lag_poll,
        lag_timeout=args.lag_timeout,
        duration=args.duration,
        timeout=args.timeout,
        publish_interval=args.publish_interval,
        server_config=args.server_config,
    )
    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    return execute(sc, json_path=args.json, show_progress=show, keep_data=args.keep_data)


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


def _serve(args: argparse.Namespace) -> int:
    import logging

    from aiohttp import web

    from statuslist.config import load_settings
    from statuslist.web import create_app

    settings = load_settings(
        args.config,
        host=args.host,
        port=args.port,
        data_dir=args.data,
        public_base_url=args.public_url,
        publish_interval=args.publish_interval,
    )
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
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=None,
        shutdown_timeout=settings.shutdown_timeout,
        print=announce,
        loop=loop,
    )
    return 0


def _apikey(args: argparse.Namespace) -> int:
    from statuslist.config import DEV_ISSUER, load_settings
    from statuslist.service import DB_FILE, create_api_key
    from statuslist.storage.sqlite import SQLiteStorage

    settings = load_settings(args.config, data_dir=args.data)
    issuers = [i.name for i in settings.issuers] or [DEV_ISSUER]
    issuer = args.issuer or (issuers[0] if len(issuers) == 1 else None)
    if issuer not in issuers:
        raise ValueError(f"--issuer must be one of: {', '.join(issuers)}")

    async def create() -> str:
        storage = SQLiteStorage(settings.data_dir / DB_FILE)
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


def _lists(args: argparse.Namespace) -> int:
    import aiohttp

    base = (args.url or os.environ.get("STATUSLIST_URL") or "http://127.0.0.1:8080").rstrip("/")
    key = args.api_key or os.environ.get("STATUSLIST_API_KEY")
    if key is None:
        path = args.data / "admin-api-key"
        try:
            key = path.read_text().strip()
        except OSError:
            raise ValueError(
                f"no API key: pass --api-key, set STATUSLIST_API_KEY or {path}"
            ) from None
    if args.lists_verb == "create":
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
        method, url = "POST", f"{base}/v1/lists"
    elif args.lists_verb == "show":
        method, url, body = "GET", f"{base}/v1/lists/{args.list_id}", {}
    else:
        method, url, body = "GET", f"{base}/v1/lists", {}

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


def _run(args: argparse.Namespace) -> int:
    if args.verb == "serve":
        return _serve(args)
    if args.verb == "apikey":
        return _apikey(args)
    if args.verb == "loadtest":
        return _loadtest(args)
    if args.verb == "lists":
        return _lists(args)
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
    except ServiceError as exc:
        print(f"statuslist: error: {exc.detail}", file=sys.stderr)
        return 2
    except LoadtestError as exc:
        print(f"statuslist: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, KeyError, cbor2.CBORDecodeError) as exc:
        print(f"statuslist: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
