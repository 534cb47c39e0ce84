"""The storage contract suite runs every test against every backend: ``storage`` is
parametrised over :data:`BACKENDS` (the PostgreSQL backend adds itself here)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from statuslist.storage import Storage
from statuslist.storage.sqlite import SQLiteStorage

T = TypeVar("T")


def _sqlite(request: pytest.FixtureRequest, tmp: Path) -> Callable[[], Storage]:
    path = tmp / "contract.db"
    return lambda: SQLiteStorage(path)


def _postgresql(request: pytest.FixtureRequest, tmp: Path) -> Callable[[], Storage]:
    from statuslist.storage.postgres import PostgresStorage

    url = request.getfixturevalue("postgres").new_database("contract")
    return lambda: PostgresStorage(url)


#: name -> (request, tmp dir) -> factory of unopened storages on one fresh, empty database.
BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Callable[[], Storage]]] = {
    "sqlite": _sqlite,
    "postgresql": _postgresql,
}

Run = Callable[[Callable[[Storage], Coroutine[Any, Any, T]]], T]


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Storage]:
    """A factory of storages on one database (call it again to reopen, as after a restart)."""
    return BACKENDS[request.param](request, tmp_path)


@pytest.fixture
def run(backend: Callable[[], Storage]) -> Run[Any]:
    """Runs ``fn(storage)`` on an opened storage in a fresh event loop, then closes it."""

    def go(fn: Callable[[Storage], Coroutine[Any, Any, T]]) -> T:
        async def main() -> T:
            storage = backend()
            await storage.open()
            try:
                return await fn(storage)
            finally:
                await storage.close()

        return asyncio.run(main())

    return go


#: The backends that several instances share (they follow, check ``expect``, elect a leader).
SHARED = ["postgresql"]


@pytest.fixture(params=SHARED)
def shared_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Storage]:
    """A factory of storages on one database: each call is another instance."""
    return BACKENDS[request.param](request, tmp_path)
