"""statuslist: IETF Token Status List (draft-ietf-oauth-status-list-20) codec and service."""

from __future__ import annotations

from statuslist._native import __version__
from statuslist.codec import DEFAULT_MAX_BYTES, INVALID, SUSPENDED, VALID, StatusList
from statuslist.exceptions import StatusListError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "INVALID",
    "SUSPENDED",
    "VALID",
    "StatusList",
    "StatusListError",
    "__version__",
]
