"""Answers written to the transport as prebuilt bytes: the status line and headers joined once
(per publish for a token, once per process for an issuer answer), one ``Date`` line a second for
all answers, and the body. No header dict and no serialisation per request.

Only for a keep-alive HTTP/1.1 request (:func:`wire_usable`), so no ``Connection`` header is
needed; everything else takes aiohttp's own response."""

from __future__ import annotations

from email.utils import formatdate

from aiohttp import HttpVersion11, web
from aiohttp.http import SERVER_SOFTWARE

__all__ = ["CLOCK", "SMALL", "WireBytes", "head_bytes", "wire_usable"]

#: Below this many body bytes, one joined buffer is cheaper than a writev of several.
SMALL = 16 * 1024


class _Clock:
    """The ``Date`` line, formatted once a second."""

    __slots__ = ("_line", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def date_line(self, now: float) -> bytes:
        second = int(now)
        if second != self._second:
            self._line = f"Date: {formatdate(second, usegmt=True)}\r\n".encode()
            self._second = second
        return self._line


CLOCK = _Clock()


def head_bytes(status: str, headers: dict[str, str]) -> bytes:
    """The status line and ``headers`` (plus ``Server``) as on the wire, without the blank line
    that ends them: the caller adds what varies (``Date``, a length) and then ``\\r\\n``."""
    lines = [f"HTTP/1.1 {status}\r\n"]
    lines += [f"{k}: {v}\r\n" for k, v in headers.items()]
    lines.append(f"Server: {SERVER_SOFTWARE}\r\n")
    return "".join(lines).encode("latin-1")


def wire_usable(request: web.BaseRequest) -> bool:
    """Whether ``request`` may be answered by a :class:`WireBytes`: keep-alive HTTP/1.1."""
    return request.version == HttpVersion11 and request.keep_alive


class WireBytes(web.StreamResponse):
    """A complete answer (status line, headers, body) written as the given parts: one write, or
    a writev when there are several (a large body is not copied)."""

    __slots__ = ("_parts",)

    def __init__(self, status: int, parts: tuple[bytes, ...]) -> None:
        # StreamResponse.__init__ builds a header dict this answer never uses: only what
        # aiohttp's request handler and our middlewares read is set.
        self._status = status
        self._keep_alive = True
        self._eof_sent = False
        self._parts = parts

    async def prepare(self, request: web.BaseRequest) -> None:
        if self._eof_sent:
            return
        self._eof_sent = True
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client went away")
        if len(self._parts) == 1:
            transport.write(self._parts[0])
        else:
            transport.writelines(self._parts)
        await request.writer.drain()  # back-pressure from a slow reader

    async def write_eof(self, data: bytes = b"") -> None:
        return

    @property
    def body_length(self) -> int:  # for an access log, should one be configured
        return sum(len(p) for p in self._parts)
