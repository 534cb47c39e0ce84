"""The HTTP layer: the aiohttp application factory (imported only by the CLI and tests)."""

from __future__ import annotations

from statuslist.web.app import create_app, routes
from statuslist.web.keys import CALLER, METRICS, RUNTIME, SETTINGS

__all__ = ["CALLER", "METRICS", "RUNTIME", "SETTINGS", "create_app", "routes"]
