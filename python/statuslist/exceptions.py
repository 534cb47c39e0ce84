"""Every exception statuslist raises, under one root: :class:`StatusListError`.

The tree has a few families. Only those about input that cannot be accepted mix in
:class:`ValueError` (codec, tokens, keys, settings, service validation); an index past the end
of a list is also an :class:`IndexError`, so ``StatusList`` behaves like any Python sequence.
A failed fetch, the database failing, or a refused operation is not a ``ValueError``.

::

    StatusListError
    ├── InputError (ValueError)           bytes or arguments that cannot be accepted
    │   ├── InvalidBitsError, IndexOutOfRangeError (IndexError), ValueOutOfRangeError,
    │   │   LimitExceededError, DecompressError, MalformedError > Base64Error, ArgumentError,
    │   │   KeyLoadError
    │   ├── TokenError > SignatureError, UnknownKeyError, ExpiredTokenError,
    │   │   SubjectMismatchError, CriticalExtensionError
    │   └── ConfigError                   settings that cannot be used
    ├── FetchError                        a Status List Token could not be fetched
    ├── ServiceError                      a request the service refuses (statuslist.service)
    ├── StorageError                      the database failed; the write did not commit
    │   └── DiskFullError                 … because its disk is full
    └── LoadtestError                     a load-test scenario could not run

The native extension raises the codec and token classes itself: each core error variant maps to
one class here (``rust/statuslist-py/src/error.rs``).
"""

from __future__ import annotations

__all__ = [
    "ArgumentError",
    "Base64Error",
    "ConfigError",
    "CriticalExtensionError",
    "DecompressError",
    "DiskFullError",
    "ExpiredTokenError",
    "FetchError",
    "IndexOutOfRangeError",
    "InputError",
    "InvalidBitsError",
    "KeyLoadError",
    "LimitExceededError",
    "LoadtestError",
    "MalformedError",
    "ServiceError",
    "SignatureError",
    "StatusListError",
    "StorageError",
    "SubjectMismatchError",
    "TokenError",
    "UnknownKeyError",
    "ValueOutOfRangeError",
]


class StatusListError(Exception):
    """The root of every error raised by statuslist."""


class InputError(StatusListError, ValueError):
    """Bytes or arguments that cannot be accepted (the caller's input is at fault)."""


class InvalidBitsError(InputError):
    """``bits`` is not 1, 2, 4 or 8 (spec §4.1)."""


class IndexOutOfRangeError(InputError, IndexError):
    """An index at or past the end of the list (or negative where not allowed)."""


class ValueOutOfRangeError(InputError):
    """A status value that does not fit in ``bits`` bits."""


class LimitExceededError(InputError):
    """A configured bound (inflated size, entry count, memory) would be exceeded."""


class DecompressError(InputError):
    """The compressed list is not a valid zlib stream (RFC 1950).

    gzip and raw DEFLATE input are refused with a message that names them.
    """


class MalformedError(InputError):
    """A ``status_list`` object (JSON §4.2 / CBOR §4.3) is not shaped as the spec requires."""


class Base64Error(MalformedError):
    """``lst`` is not base64url without padding."""


class ArgumentError(InputError):
    """Arguments that do not fit together, e.g. index and value arrays of different lengths."""


class KeyLoadError(InputError):
    """A key that cannot be loaded or does not fit its algorithm."""


class TokenError(InputError):
    """A Status List Token that is not shaped as spec §5 requires, or uses a refused algorithm,
    serialisation or type (RFC 8725)."""


class SignatureError(TokenError):
    """A Status List Token whose signature does not verify."""


class CriticalExtensionError(TokenError):
    """The token's header marks critical (JWS ``crit``, RFC 7515 §4.1.11; COSE label 2, RFC 9052
    §3.1) an extension this implementation does not understand, or ``crit`` is malformed."""


class UnknownKeyError(TokenError):
    """No trusted key matches the token's ``kid``/algorithm."""


class ExpiredTokenError(TokenError):
    """The Status List Token's ``exp`` has passed (spec §8.3: it MUST NOT be relied upon)."""


class SubjectMismatchError(TokenError):
    """The token's ``sub`` is not exactly the ``uri`` of the Referenced Token's status claim."""


class ConfigError(InputError):
    """Settings that cannot be used; the message names the setting."""


class FetchError(StatusListError):
    """The Status List Token could not be fetched (network error, HTTP status, redirects)."""


class ServiceError(StatusListError):
    """A request the service refuses, or could not carry out.

    Each subclass (``statuslist.service.errors``) has a stable ``slug`` and ``title`` (the web
    layer turns them into RFC 9457 problem documents and HTTP statuses); ``detail`` says what
    happened and ``field``, where one input is at fault, which one.
    """

    slug = "internal"
    title = "Internal error"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class StorageError(StatusListError):
    """The database failed (I/O error, disk full, closed, unreachable): nothing was committed."""


class DiskFullError(StorageError):
    """The database's disk is full: the write did not commit; it may once space is freed."""


class LoadtestError(StatusListError):
    """A load-test scenario could not run (server unreachable, setup refused); the message says
    why."""
