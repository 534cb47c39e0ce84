"""Every ``web.AppKey`` of the application, in one place, and the runtime they reach.

The service is created in the app's ``cleanup_ctx``, after the apps are frozen, so the apps hold
one :class:`Runtime` (the public app and the ``/v1`` sub-app the same object) that the context
fills in: a handler reaches the service with one dict look-up and one attribute, in either app.
"""

from __future__ import annotations

from aiohttp import web

from statuslist.config import Settings
from statuslist.metrics import Metrics
from statuslist.service import ApiKey, Service
from statuslist.web.commands import SingleBodies
from statuslist.web.served import ServedTokens

__all__ = ["CALLER", "METRICS", "RUNTIME", "SETTINGS", "SINGLE_BODIES", "Runtime"]


class Runtime:
    """The service (once started) and the served-token cache."""

    __slots__ = ("service", "tokens")

    service: Service

    def __init__(self, tokens: ServedTokens) -> None:
        self.tokens = tokens

    @property
    def started(self) -> bool:
        return hasattr(self, "service")


SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
RUNTIME = web.AppKey("runtime", Runtime)
#: The issuer API's memo of single-PUT bodies (``web/commands.py``).
SINGLE_BODIES = web.AppKey("single_bodies", SingleBodies)
#: The authenticated caller of an issuer API request (set by the issuer API's middleware).
CALLER = web.RequestKey("caller", ApiKey)
