"""The served-token cache: per list, format and content coding, the body and its complete header
set, built once per publish (off the event loop: gzip of a large token takes milliseconds), so a
token GET looks two things up and answers.

Each representation also carries its answers as bytes on the wire: the status line and every
header but the two that vary with time (``Cache-Control``'s ``max-age``, ``Date``), built once per
publish. :class:`WireResponse` writes them, the time-dependent lines (one ``Date`` line a second
for all answers) and the body straight to the transport: no header dict, no serialisation per
request. The usual aiohttp response is kept for what the wire path does not cover (HEAD, HTTP/1.0,
``Connection: close``)."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import hashlib
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import TYPE_CHECKING

from statuslist.service import Published
from statuslist.web.wire import CLOCK, SMALL, WireBytes, head_bytes

if TYPE_CHECKING:
    from statuslist.web.offload import Offload
from statuslist.web.negotiation import accepts_gzip, choose_media_type

__all__ = [
    "CORS",
    "MEDIA",
    "Representation",
    "ServedList",
    "ServedTokens",
    "WireResponse",
    "etag_of",
]

MEDIA = {"jwt": "application/statuslist+jwt", "cwt": "application/statuslist+cwt"}
FORMAT_OF = {v: k for k, v in MEDIA.items()}
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag, Last-Modified, Cache-Control, Content-Encoding",
}
VARY = "Accept, Accept-Encoding"
_MEMO_LIMIT = 1024


def etag_of(body: bytes) -> str:
    """A strong ETag: a hash of the bytes served."""
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def cache_headers(max_age: int) -> dict[str, str]:
    return {**CORS, "Cache-Control": f"public, max-age={max(0, max_age)}", "Vary": VARY}


@dataclass(frozen=True, slots=True)
class Representation:
    """One servable body with the headers of its 200 and 304 answers (``max-age`` = ttl), and
    both answers as wire bytes less ``Cache-Control`` and ``Date``."""

    body: bytes = field(repr=False)
    etag: str
    iat: int
    exp: int
    ttl: int
    headers: Mapping[str, str] = field(repr=False)
    not_modified: Mapping[str, str] = field(repr=False)
    wire_ok: bytes = field(repr=False)
    wire_not_modified: bytes = field(repr=False)
    wire_ttl: bytes = field(repr=False)  # the Cache-Control line while max-age is the ttl

    def max_age(self, now: float) -> int:
        """``max-age`` at ``now``: the ttl, never past ``exp``."""
        left = int(self.exp - now)
        return max(0, self.ttl) if left >= self.ttl else max(0, left)

    def headers_at(self, now: float, *, modified: bool = True) -> Mapping[str, str]:
        """The headers at ``now``: ``max-age`` never runs past ``exp``."""
        base = self.headers if modified else self.not_modified
        if int(self.exp - now) >= self.ttl:
            return base
        return {**base, "Cache-Control": f"public, max-age={self.max_age(now)}"}

    def cache_control_line(self, now: float) -> bytes:
        if self.exp - now >= self.ttl + 1:
            return self.wire_ttl
        return f"Cache-Control: public, max-age={self.max_age(now)}\r\n".encode()


def _uncached(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` less ``Cache-Control``, which the wire answer adds per request."""
    return {k: v for k, v in headers.items() if k != "Cache-Control"}


def representation(
    body: bytes, fmt: str, iat: int, exp: int, ttl: int, encoding: str | None = None
) -> Representation:
    tag = etag_of(body)
    common = {**cache_headers(ttl), "ETag": tag, "Last-Modified": formatdate(iat, usegmt=True)}
    full = {**common, "Content-Type": MEDIA[fmt]}
    if encoding:
        full["Content-Encoding"] = encoding
    wire_ok = head_bytes("200 OK", _uncached({**full, "Content-Length": str(len(body))}))
    return Representation(
        body,
        tag,
        iat,
        exp,
        ttl,
        full,
        common,
        wire_ok,
        head_bytes("304 Not Modified", _uncached(common)),
        f"Cache-Control: {common['Cache-Control']}\r\n".encode(),
    )


class WireResponse(WireBytes):
    """A 200 or 304 of a cached representation written as bytes built at publish time. Only
    for a keep-alive HTTP/1.1 GET (the caller checks, :func:`wire_usable`): the body is always
    sent."""

    __slots__ = ()

    def __init__(self, rep: Representation, now: float, *, modified: bool) -> None:
        head = rep.wire_ok if modified else rep.wire_not_modified
        tail = rep.cache_control_line(now) + CLOCK.date_line(now) + b"\r\n"
        if not modified:
            parts: tuple[bytes, ...] = (head + tail,)
        elif len(rep.body) < SMALL:
            parts = (head + tail + rep.body,)
        else:
            parts = (head + tail, rep.body)  # the body is not copied (writev)
        super().__init__(200 if modified else 304, parts)


#: Below this many bytes a JWT is also gzip'd with LZ77 matching, and the smaller one is kept.
_MATCHED_GZIP = 64 * 1024


def gzip_jwt(body: bytes) -> bytes:
    """The gzip'd representation of a JWT (deterministic: every instance serves the same bytes).

    A large JWT is base64 text of DEFLATE output: nothing repeats for LZ77 to find, and the
    symbols are what compresses. Huffman coding alone is 1% smaller than level 6 there and
    about four times faster (a 237 KB token: 167,513 B in 2.7 ms against 169,367 B in 10.1 ms).
    A small one has a JSON header and claims that repeat: level 6, when that is smaller."""
    coder = zlib.compressobj(6, zlib.DEFLATED, 31, 9, zlib.Z_HUFFMAN_ONLY)
    out = coder.compress(body) + coder.flush()
    if len(body) < _MATCHED_GZIP:
        matched = gzip.compress(body, 6, mtime=0)
        if len(matched) < len(out):
            return matched
    return out


@dataclass(frozen=True, slots=True)
class ServedList:
    """What a list's token GET serves: ``jwt``, ``jwt+gzip`` and/or ``cwt``."""

    formats: tuple[str, ...]
    offered: tuple[str, ...]  # media types, JWT first
    reps: Mapping[str, Representation]
    #: Another token of this list was published within the same second (so ``Last-Modified``
    #: cannot tell them apart, and ``If-Modified-Since`` of that second earns no 304).
    same_second: bool = False

    @classmethod
    def build(cls, pub: Published) -> ServedList:
        reps: dict[str, Representation] = {}
        for fmt, t in pub.tokens.items():
            reps[fmt] = representation(t.body, fmt, t.iat, t.exp, pub.ttl)
            if fmt == "jwt":
                zipped = gzip_jwt(t.body)
                reps["jwt+gzip"] = representation(zipped, fmt, t.iat, t.exp, pub.ttl, "gzip")
        formats = tuple(f for f in MEDIA if f in pub.tokens)
        return cls(formats, tuple(MEDIA[f] for f in formats), reps)


class ServedTokens:
    """The cache, filled by the publisher's announcements; lookups on the event loop. With an
    ``offload`` writer, every list it takes in is also written to the offload directory."""

    def __init__(self, offload: Offload | None = None) -> None:
        self.offload = offload
        self._lists: dict[str, ServedList] = {}
        self._negotiated: dict[tuple[str | None, tuple[str, ...]], str | None] = {}
        self._gzip: dict[str | None, bool] = {}

    def get(self, list_id: str) -> ServedList | None:
        return self._lists.get(list_id)

    async def update(self, published: Sequence[Published]) -> None:
        """Builds the representations of freshly published lists, then swaps them in."""
        if not published:
            return
        prev = [self._lists.get(p.list_id) for p in published]

        def build() -> list[ServedList]:
            built = []
            for pub, before in zip(published, prev, strict=True):
                served = ServedList.build(pub)
                if before is not None and any(
                    r.iat == served.reps[k].iat and r.etag != served.reps[k].etag
                    for k, r in before.reps.items()
                    if k in served.reps
                ):
                    served = dataclasses.replace(served, same_second=True)
                built.append(served)
            if self.offload is not None:
                self.offload.write(zip((p.list_id for p in published), built, strict=True))
            return built

        built = await asyncio.to_thread(build)
        for pub, served in zip(published, built, strict=True):
            self._lists[pub.list_id] = served

    def negotiate(self, accept: str | None, served: ServedList) -> str | None:
        """The format to serve for this ``Accept`` header (memoised per header and offer)."""
        key = (accept, served.offered)
        try:
            return self._negotiated[key]
        except KeyError:
            pass
        media = choose_media_type(accept, list(served.offered))
        fmt = None if media is None else FORMAT_OF[media]
        if len(self._negotiated) >= _MEMO_LIMIT:
            self._negotiated.clear()
        self._negotiated[key] = fmt
        return fmt

    def gzip_ok(self, accept_encoding: str | None) -> bool:
        try:
            return self._gzip[accept_encoding]
        except KeyError:
            pass
        ok = accepts_gzip(accept_encoding)
        if len(self._gzip) >= _MEMO_LIMIT:
            self._gzip.clear()
        self._gzip[accept_encoding] = ok
        return ok
