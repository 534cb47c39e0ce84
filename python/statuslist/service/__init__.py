"""The service layer (no HTTP): lists, allocation, status changes, publishing, API keys."""

from __future__ import annotations

from statuslist.service.core import (
    SCOPES,
    STATUS_NAMES,
    ApiKey,
    ListState,
    Published,
    Representation,
    Service,
    create_api_key,
    hash_api_key,
    status_name,
)
from statuslist.service.errors import ServiceError
from statuslist.service.setup import ADMIN_KEY_FILE, DB_FILE, bootstrap, load_issuer_keys

__all__ = [
    "ADMIN_KEY_FILE",
    "DB_FILE",
    "SCOPES",
    "STATUS_NAMES",
    "ApiKey",
    "ListState",
    "Published",
    "Representation",
    "Service",
    "ServiceError",
    "bootstrap",
    "create_api_key",
    "hash_api_key",
    "load_issuer_keys",
    "status_name",
]
