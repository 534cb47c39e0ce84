"""The aiohttp application: the public app with the ``/v1`` issuer sub-app mounted, and the
storage and service as a ``cleanup_ctx`` resource."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from aiohttp import web

from statuslist.config import Settings
from statuslist.metrics import Metrics
from statuslist.service import running
from statuslist.web import logs
from statuslist.web.issuer import create_issuer_app
from statuslist.web.keys import METRICS, RUNTIME, SETTINGS, Runtime
from statuslist.web.public import ROUTES, public_middleware
from statuslist.web.served import ServedTokens

__all__ = ["create_app", "routes"]


def create_app(settings: Settings, *, metrics: Metrics | None = None) -> web.Application:
    """The service as an aiohttp application."""
    logs.install()
    app = web.Application(
        middlewares=[public_middleware], client_max_size=settings.limits.max_body_bytes
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics or Metrics()
    runtime = app[RUNTIME] = Runtime(ServedTokens())

    async def service_ctx(app: web.Application) -> AsyncIterator[None]:
        async with running(
            settings, metrics=app[METRICS], listeners=[runtime.tokens.update]
        ) as svc:
            runtime.service = svc
            yield

    app.cleanup_ctx.append(service_ctx)
    app.router.add_routes(ROUTES)
    issuer = create_issuer_app()
    issuer[RUNTIME] = runtime
    app.add_subapp("/v1", issuer)
    return app


def routes(app: web.Application) -> Iterator[tuple[str, str]]:
    """``(method, path)`` of every route, sub-apps included (for the OpenAPI coverage)."""
    for route in app.router.routes():
        resource = route.resource
        if resource is None:
            continue
        sub = getattr(resource, "_app", None)
        if isinstance(sub, web.Application):
            yield from routes(sub)
        else:
            yield route.method, resource.canonical
