"""Every ``web.AppKey`` of the application, in one place."""

from __future__ import annotations

from aiohttp import web

from statuslist.config import Settings
from statuslist.metrics import Metrics
from statuslist.service import ApiKey, Service
from statuslist.web.served import ServedTokens

__all__ = ["CALLER", "METRICS", "SERVICE", "SETTINGS", "TOKENS"]

SETTINGS = web.AppKey("settings", Settings)
SERVICE = web.AppKey("service", Service)
METRICS = web.AppKey("metrics", Metrics)
TOKENS = web.AppKey("tokens", ServedTokens)
#: The authenticated caller of an issuer API request (a request key, set by its middleware).
CALLER = web.RequestKey("caller", ApiKey)
