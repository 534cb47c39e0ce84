"""``encode`` and ``decode``: build a status_list object, or read one and print its counts."""

from __future__ import annotations

import argparse
import json
import sys

from statuslist.codec import DEFAULT_MAX_BYTES, StatusList

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``encode`` and ``decode``."""
    enc = subparsers.add_parser(
        "encode", help="build a status list and print its status_list object"
    )
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
    enc.set_defaults(handler=_encode)

    dec = subparsers.add_parser(
        "decode", help="read a status_list object and print counts per status"
    )
    dec.add_argument("source", help="JSON text, CBOR hex, a file path, or - for stdin")
    dec.add_argument(
        "--max-bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        help="refuse lists that inflate to more bytes than this",
    )
    dec.set_defaults(handler=_decode)


def _parse_assignment(text: str) -> tuple[int, int]:
    idx, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected IDX=STATUS, got {text!r}")
    try:
        return int(idx), int(value, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers in IDX=STATUS, got {text!r}") from None


def _encode(args: argparse.Namespace) -> int:
    sl = StatusList(args.size, args.bits)
    if args.assignments:
        idx, values = zip(*args.assignments, strict=True)
        sl.set_many(idx, values)
    if args.format == "json":
        print(sl.to_json(args.aggregation_uri))
    else:
        print(sl.to_cbor(args.aggregation_uri).hex())
    return 0


def _decode(args: argparse.Namespace) -> int:
    text = _read_source(args.source).strip()
    if text.startswith("{"):
        sl = StatusList.from_json(text, max_bytes=args.max_bytes)
    else:
        sl = StatusList.from_cbor(bytes.fromhex(text), max_bytes=args.max_bytes)
    counts = {str(k): v for k, v in sorted(sl.counts().items())}
    print(json.dumps({"bits": sl.bits, "size": len(sl), "counts": counts}))
    return 0


def _read_source(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    if source.lstrip().startswith("{") or all(c in "0123456789abcdefABCDEF" for c in source):
        return source
    with open(source, encoding="utf-8") as fh:
        return fh.read()
