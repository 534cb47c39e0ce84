"""The exceptions raised by statuslist.

Every error the codec raises is a :class:`StatusListError`, itself a :class:`ValueError` (all of
them are about input that cannot be accepted). An index past the end of a list is also an
:class:`IndexError`, so ``StatusList`` behaves like any Python sequence.
"""

from __future__ import annotations

__all__ = [
    "ArgumentError",
    "Base64Error",
    "DecompressError",
    "ExpiredTokenError",
    "FetchError",
    "IndexOutOfRangeError",
    "InvalidBitsError",
    "KeyLoadError",
    "LimitExceededError",
    "MalformedError",
    "SignatureError",
    "StatusListError",
    "SubjectMismatchError",
    "TokenError",
    "UnknownKeyError",
    "ValueOutOfRangeError",
]


class StatusListError(ValueError):
    """Base class of every error raised by statuslist."""


class InvalidBitsError(StatusListError):
    """``bits`` is not 1, 2, 4 or 8 (spec §4.1)."""


class IndexOutOfRangeError(StatusListError, IndexError):
    """An index at or past the end of the list (or negative where not allowed)."""


class ValueOutOfRangeError(StatusListError):
    """A status value that does not fit in ``bits`` bits."""


class LimitExceededError(StatusListError):
    """A configured bound (inflated size, entry count, memory) would be exceeded."""


class DecompressError(StatusListError):
    """The compressed list is not a valid zlib stream (RFC 1950).

    gzip and raw DEFLATE input are refused with a message that names them.
    """


class MalformedError(StatusListError):
    """A ``status_list`` object (JSON §4.2 / CBOR §4.3) is not shaped as the spec requires."""


class Base64Error(MalformedError):
    """``lst`` is not base64url without padding."""


class ArgumentError(StatusListError):
    """Arguments that do not fit together, e.g. index and value arrays of different lengths."""


class KeyLoadError(StatusListError):
    """A key that cannot be loaded or does not fit its algorithm."""


class TokenError(StatusListError):
    """A Status List Token that is not shaped as spec §5 requires, or uses a refused algorithm,
    serialisation or type (RFC 8725)."""


class SignatureError(TokenError):
    """A Status List Token whose signature does not verify."""


class FetchError(StatusListError):
    """The Status List Token could not be fetched (network error, HTTP status, redirects)."""


class UnknownKeyError(TokenError):
    """No trusted key matches the token's ``kid``/algorithm."""


class ExpiredTokenError(TokenError):
    """The Status List Token's ``exp`` has passed (spec §8.3: it MUST NOT be relied upon)."""


class SubjectMismatchError(TokenError):
    """The token's ``sub`` is not exactly the ``uri`` of the Referenced Token's status claim."""
