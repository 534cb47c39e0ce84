"""The ``statuslist`` command line.

Verbs so far: ``encode`` (build a status list and print its JSON or CBOR object) and ``decode``
(read a ``status_list`` object and print its size and counts per status). ``serve``, ``keygen``,
``fetch``, ``check``, ``inspect`` and ``loadtest`` arrive with the service and token layers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

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
    return parser


def _read_source(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    if source.lstrip().startswith("{") or all(c in "0123456789abcdefABCDEF" for c in source):
        return source
    with open(source, encoding="utf-8") as fh:
        return fh.read()


def _run(args: argparse.Namespace) -> int:
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
    except (StatusListError, OSError, ValueError) as exc:
        print(f"statuslist: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
