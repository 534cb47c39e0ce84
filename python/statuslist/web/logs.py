"""Log hygiene: anyone can send millions of malformed requests, and a failing disk fails every
request; neither may flood the log. :class:`Throttle` lets :data:`BURST` lines through per
:data:`WINDOW` seconds and counts the rest, summed up in the next line that gets through.

aiohttp logs each malformed request (bad request line, bad header, TLS on the plain port) as an
ERROR with a traceback; :class:`BadRequestLogFilter` makes each one brief WARNING line, throttled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiohttp.http_exceptions import HttpProcessingError

__all__ = ["BURST", "WINDOW", "BadRequestLogFilter", "Throttle", "install"]

BURST = 5
WINDOW = 10.0
_LOGGER = "aiohttp.server"


class Throttle:
    """At most ``burst`` events per ``window`` seconds are let through."""

    def __init__(
        self,
        burst: int = BURST,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.window = window
        self.clock = clock
        self._start = -window
        self._seen = 0
        self.suppressed = 0

    def allow(self) -> bool:
        now = self.clock()
        if now - self._start >= self.window:
            self._start, self._seen = now, 0
        self._seen += 1
        if self._seen > self.burst:
            self.suppressed += 1
            return False
        return True

    def note(self) -> str:
        """`` (N more not logged)`` for what was held back since the last line, or ``""``."""
        if not self.suppressed:
            return ""
        text = f" ({self.suppressed} more like this not logged)"
        self.suppressed = 0
        return text


class BadRequestLogFilter(logging.Filter):
    """Rewrites aiohttp's "Error handling request" records for malformed requests into one
    line (no traceback, the parser's message cut short) and throttles them."""

    def __init__(self, throttle: Throttle | None = None) -> None:
        super().__init__()
        self.throttle = throttle or Throttle()

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True  # a real server error keeps its traceback
        if not self.throttle.allow():
            return False
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        reason = " ".join(str(exc.message).split())[:120]
        record.msg = "malformed HTTP request from %s: %d %s%s"
        record.args = (remote, exc.code, reason, self.throttle.note())
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def install() -> None:
    """Puts one :class:`BadRequestLogFilter` on aiohttp's server logger (idempotent)."""
    logger = logging.getLogger(_LOGGER)
    if not any(isinstance(f, BadRequestLogFilter) for f in logger.filters):
        logger.addFilter(BadRequestLogFilter())
