"""The HTTP layer: aiohttp application factory (imported only by the CLI and tests)."""

from __future__ import annotations

from statuslist.web.app import CALLER, METRICS, SERVICE, SETTINGS, create_app

__all__ = ["CALLER", "METRICS", "SERVICE", "SETTINGS", "create_app"]
