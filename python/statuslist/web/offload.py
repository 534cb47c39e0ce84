"""Origin offload: every published token also written to a directory that nginx serves directly
(``deploy/nginx/offload.conf.template`` with ``deploy/nginx/statuslist.js``), with the same
negotiation, headers, ETags and 304s as the service.

The layout, under ``offload_dir``::

    tokens/<list id>/<tag>.jwt       the JWT            (tag: the ETag without its quotes)
    tokens/<list id>/<tag>.jwt.gz    the gzip'd JWT, the very bytes the service sends
    tokens/<list id>/<tag>.cwt       the CWT
    lists/<list id>.meta             what nginx needs to answer, read on every request, so
                                     one line nginx splits on spaces (JSON costs it more):
        <layout> <iat> <exp> <ttl> <same second: 0|1> <jwt tag|-> <gzip'd jwt tag|-> <cwt tag|->
        <Last-Modified>

Token files are named by their ETag, so they never change once written: nginx reads a list's
``.json`` and then opens the file it names, and whatever publish happens in between, the bytes
it sends are the bytes behind the ETag it sends. Every file is written under a temporary name
and renamed into place (atomic on POSIX); the ``.meta`` last, after its token files. Each file's
mtime is the token's ``iat``, so nginx's own ``Last-Modified`` equals the service's. The files
of the generation before the current one are kept (a reader may have just read its ``.meta``);
older ones are removed. Nothing is fsynced: the directory is a cache that the service rewrites
from its store on every start and every publish.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable
from email.utils import formatdate
from pathlib import Path
from typing import Any

from statuslist.web.served import ServedList

__all__ = ["FORMAT_VERSION", "Offload", "read_meta"]

log = logging.getLogger("statuslist.web.offload")

#: The layout's version, first in every ``.meta`` (``statuslist.js`` refuses another).
FORMAT_VERSION = 1
_SUFFIX = {"jwt": ".jwt", "jwt+gzip": ".jwt.gz", "cwt": ".cwt"}
_KINDS = ("jwt", "jwt+gzip", "cwt")


class Offload:
    """Writes the served tokens of freshly published lists into ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.last_error: str | None = None
        self._previous: dict[str, set[str]] = {}  # per list: the file names of the last write

    def prepare(self) -> None:
        """Creates the directory (and checks it is writable) before the service starts."""
        for sub in ("tokens", "lists"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for stale in self.root.glob("**/.*"):  # a write cut short by a crash
            if stale.is_file():
                stale.unlink(missing_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.root / "lists", prefix=".probe-"):
            pass  # writable

    def write(self, lists: Iterable[tuple[str, ServedList]]) -> None:
        """Writes each list's files (blocking: run it off the event loop). A failure is logged
        and kept in :attr:`last_error` (for ``/readyz``): the service still answers from memory,
        and nginx falls back to it once the token on disk expires."""
        try:
            for list_id, served in lists:
                self._write_list(list_id, served)
        except OSError as exc:
            self.last_error = f"origin offload: cannot write to {self.root}: {exc.strerror or exc}"
            log.error("%s", self.last_error)
        else:
            self.last_error = None

    def _write_list(self, list_id: str, served: ServedList) -> None:
        folder = self.root / "tokens" / list_id
        folder.mkdir(parents=True, exist_ok=True)
        tags: dict[str, str] = {}
        names: set[str] = set()
        first = next(iter(served.reps.values()))
        for kind, rep in served.reps.items():
            tags[kind] = rep.etag.strip('"')
            name = tags[kind] + _SUFFIX[kind]
            names.add(name)
            target = folder / name
            if not target.exists():
                _atomic_write(target, rep.body, mtime=rep.iat)
        line = " ".join(
            [
                str(FORMAT_VERSION),
                str(first.iat),
                str(first.exp),
                str(first.ttl),
                "1" if served.same_second else "0",
                *(tags.get(kind, "-") for kind in _KINDS),
            ]
        )
        meta = f"{line}\n{formatdate(first.iat, usegmt=True)}\n".encode()
        _atomic_write(self.root / "lists" / f"{list_id}.meta", meta, mtime=first.iat)
        keep = names | self._previous.get(list_id, set())
        for old in folder.iterdir():
            if old.name not in keep and not old.name.startswith("."):
                old.unlink(missing_ok=True)
        self._previous[list_id] = names

    def withdraw(self, list_ids: Iterable[str]) -> None:
        """Removes what was written for these lists (the ``.meta`` first, so nginx leaves them
        to the service at once): lists the service will not serve, such as one found damaged
        at start, whose last token on disk would otherwise be served until it expires."""
        try:
            for list_id in list_ids:
                (self.root / "lists" / f"{list_id}.meta").unlink(missing_ok=True)
                folder = self.root / "tokens" / list_id
                if folder.is_dir():
                    for old in folder.iterdir():
                        old.unlink(missing_ok=True)
                    folder.rmdir()
                self._previous.pop(list_id, None)
        except OSError as exc:
            why = exc.strerror or exc
            self.last_error = f"origin offload: cannot remove from {self.root}: {why}"
            log.error("%s", self.last_error)


def read_meta(root: Path, list_id: str) -> dict[str, Any]:
    """A list's ``.meta`` as a dict (for tests and inspection): ``iat``, ``exp``, ``ttl``,
    ``same_second``, ``last_modified`` and per representation ``reps[kind]`` = ``{"etag",
    "file"}`` (the file relative to ``root``)."""
    text = (root / "lists" / f"{list_id}.meta").read_text()
    line, last_modified = text.rstrip("\n").split("\n")
    version, iat, exp, ttl, same, *tags = line.split(" ")
    if int(version) != FORMAT_VERSION or len(tags) != len(_KINDS):
        raise ValueError(f"not a layout {FORMAT_VERSION} .meta: {line!r}")
    reps = {
        kind: {"etag": f'"{tag}"', "file": f"tokens/{list_id}/{tag}{_SUFFIX[kind]}"}
        for kind, tag in zip(_KINDS, tags, strict=True)
        if tag != "-"
    }
    return {
        "iat": int(iat),
        "exp": int(exp),
        "ttl": int(ttl),
        "same_second": same == "1",
        "last_modified": last_modified,
        "reps": reps,
    }


def _atomic_write(target: Path, data: bytes, *, mtime: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # nginx's worker user reads it
        os.utime(tmp, (mtime, mtime))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
