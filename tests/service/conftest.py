"""In-process service tests: a real :class:`Service` on a real SQLite file, in one event loop,
without HTTP. ``svc`` runs a coroutine against a started service and stops it afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from statuslist.config import DEV_ISSUER, Settings, load_settings
from statuslist.service import ApiKey, Service, load_issuer_keys
from statuslist.storage import open_storage

T = TypeVar("T")
ADMIN = ApiKey(DEV_ISSUER, "admin", "test")
Svc = Callable[[Callable[[Service], Coroutine[Any, Any, T]]], T]


def settings_for(data: Path, **overrides: Any) -> Settings:
    base = load_settings(None, env={}, data_dir=data, publish_interval=0.05)
    return replace(base, **overrides)


async def started(settings: Settings) -> Service:
    storage = open_storage(settings)
    await storage.open()
    service = Service(settings, storage, load_issuer_keys(settings))
    await service.start()
    return service


async def stopped(service: Service) -> None:
    await service.stop()
    await service.storage.close()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def svc(data: Path) -> Svc[Any]:
    def go(fn: Callable[[Service], Coroutine[Any, Any, T]], **overrides: Any) -> T:
        async def main() -> T:
            service = await started(settings_for(data, **overrides))
            try:
                return await fn(service)
            finally:
                await stopped(service)

        return asyncio.run(main())

    return go
