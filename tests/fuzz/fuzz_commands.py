"""Atheris target: the service's request-body parsers (``statuslist.web.commands``).

These run on every body a client sends to the issuer API, before the service sees a command.
Every refusal must be a :class:`~statuslist.exceptions.ServiceError` (a 4xx problem document);
anything else would be a 500.

Input byte 0 picks the parser; the rest is the request body:

- 0 ``new_list``, 1 ``allocation``, 2 ``single``, 3 ``batch_json``, 4 ``batch_by_uri``: the
  body goes through ``parse_json`` first, as ``read_json`` does;
- 5 ``batch_binary``: ``?status=`` values separated by ``&``, 0x00, then the binary body (no
  0x00: no ``?status=``);
- 6 ``path_index``: the body is the ``{idx}`` path segment;
- 7 ``parse_list_id``: the body is the ``{list_id}`` path segment.

Run: ``python3 tests/fuzz/fuzz_commands.py [libFuzzer flags] [corpus dirs]`` (rust/fuzz/README.md).
"""

from __future__ import annotations

import sys

import atheris
from multidict import MultiDict

with atheris.instrument_imports(include=["statuslist"]):
    from statuslist.exceptions import ServiceError
    from statuslist.service import Allocation, NewList, UpdateBatch
    from statuslist.web import commands

_U64 = 1 << 64
PREFIX = "https://s.example/statuslists/"


def _list_id_of(uri: str) -> str | None:
    return uri[len(PREFIX) :] or None if uri.startswith(PREFIX) else None


def _check_batch(batch: UpdateBatch) -> None:
    assert batch.parts
    for part in batch.parts:
        assert isinstance(part.list_id, str)
        assert len(part.indices) == len(part.values) > 0
        assert all(0 <= i < _U64 for i in part.indices)


def one_input(data: bytes) -> None:
    if not data:
        return
    op, body = data[0] % 8, data[1:]
    try:
        if op == 5:
            status, sep, raw = body.partition(b"\x00")
            values = status.decode("utf-8", "replace").split("&") if sep else []
            query: MultiDict[str] = MultiDict(("status", v) for v in values)
            _check_batch(commands.batch_binary("l", raw if sep else body, query))
            return
        if op == 6:
            idx = commands.path_index(body.decode("utf-8", "surrogateescape"))
            assert 0 <= idx < _U64
            return
        if op == 7:
            list_id = commands.parse_list_id(body.decode("utf-8", "surrogateescape"))
            assert list_id.isascii() and "\x00" not in list_id
            return
        doc = commands.parse_json(body)
        if op == 0:
            assert isinstance(commands.new_list(doc), NewList)
        elif op == 1:
            assert isinstance(commands.allocation(doc), Allocation)
        elif op == 2:
            _check_batch(commands.single("l", 7, doc))
        elif op == 3:
            _check_batch(commands.batch_json("l", doc))
        else:
            _check_batch(commands.batch_by_uri(doc, _list_id_of))
    except ServiceError as exc:
        refusal = str(exc)
    else:
        return
    # A refusal quotes input only up to a bound (issue #12: no unbounded echo).
    assert len(refusal) < 1024, f"refusal message of {len(refusal)} characters"


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
