"""The aiohttp application: the public app with the ``/v1`` issuer sub-app mounted, and the
storage and service as a ``cleanup_ctx`` resource."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable, Iterator

from aiohttp import web

from statuslist.config import Settings
from statuslist.exceptions import ConfigError, StatusListError
from statuslist.metrics import Metrics
from statuslist.service import Service, running
from statuslist.web import logs
from statuslist.web.issuer import create_issuer_app, mount_hot_routes
from statuslist.web.keys import METRICS, RUNTIME, SETTINGS, Runtime
from statuslist.web.offload import Offload
from statuslist.web.public import ROUTES, public_middleware
from statuslist.web.served import ServedTokens

__all__ = ["create_app", "routes"]

log = logging.getLogger("statuslist.web")


def create_app(
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    reload: Callable[[], Settings] | None = None,
) -> web.Application:
    """The service as an aiohttp application. With ``reload`` (which reads the configuration
    again), ``SIGHUP`` reloads the issuer keys while the server runs."""
    logs.install()
    app = web.Application(
        middlewares=[public_middleware], client_max_size=settings.limits.max_body_bytes
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics or Metrics()
    offload = Offload(settings.offload_dir) if settings.offload_dir is not None else None
    runtime = app[RUNTIME] = Runtime(ServedTokens(offload))

    async def service_ctx(app: web.Application) -> AsyncIterator[None]:
        if offload is not None:
            try:
                await asyncio.to_thread(offload.prepare)
            except OSError as exc:
                raise ConfigError(f"offload_dir {offload.root}: {exc.strerror or exc}") from None
        async with running(
            settings, metrics=app[METRICS], listeners=[runtime.tokens.update]
        ) as svc:
            runtime.service = svc
            if offload is not None and svc.lists.damaged:  # not served: not from disk either
                await asyncio.to_thread(offload.withdraw, list(svc.lists.damaged))
            hup = reload is not None and _on_sighup(svc, reload)
            try:
                yield
            finally:
                if hup:
                    asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)

    app.cleanup_ctx.append(service_ctx)
    app.router.add_routes(ROUTES)
    issuer = create_issuer_app()
    issuer[RUNTIME] = runtime
    mount_hot_routes(app, issuer)
    app.add_subapp("/v1", issuer)
    return app


def _on_sighup(svc: Service, reload: Callable[[], Settings]) -> bool:
    """Installs the ``SIGHUP`` handler: configuration read again, issuer keys replaced; a
    failure is logged and kept for ``/readyz`` (the old keys go on signing)."""
    tasks: set[asyncio.Task[None]] = set()

    async def run() -> None:
        try:
            new = await asyncio.to_thread(reload)
            await svc.reload_keys(new)
        except StatusListError as exc:
            svc.keys_error = f"reloading the issuer keys failed, the old ones still sign: {exc}"
            log.error("%s", svc.keys_error)

    def hup() -> None:
        log.info("SIGHUP: reloading the issuer keys")
        task = asyncio.ensure_future(run())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, hup)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
        return False
    return True


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
