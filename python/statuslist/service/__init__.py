"""The service layer (no HTTP): lists, entries, allocation, publishing, keys.

``Service`` wires the parts; the web layer and the CLI use it and the typed commands.
"""

from __future__ import annotations

from statuslist.service.commands import Allocation, ListUpdate, NewList, UpdateBatch
from statuslist.service.errors import ServiceError
from statuslist.service.keys import (
    ADMIN_KEY_FILE,
    SCOPES,
    ApiKey,
    IssuerKeys,
    bootstrap,
    create_api_key,
    hash_api_key,
    load_issuer_keys,
)
from statuslist.service.service import Service, running
from statuslist.service.state import STATUS_NAMES, ListState, Published, status_name

__all__ = [
    "ADMIN_KEY_FILE",
    "SCOPES",
    "STATUS_NAMES",
    "Allocation",
    "ApiKey",
    "IssuerKeys",
    "ListState",
    "ListUpdate",
    "NewList",
    "Published",
    "Service",
    "ServiceError",
    "UpdateBatch",
    "bootstrap",
    "create_api_key",
    "hash_api_key",
    "load_issuer_keys",
    "running",
    "status_name",
]
