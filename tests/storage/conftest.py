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


def _sqlite(tmp: Path) -> Storage:
    return SQLiteStorage(tmp / "contract.db")


#: name -> factory of a fresh, unopened storage (each test gets an empty database).
BACKENDS: dict[str, Callable[[Path], Storage]] = {"sqlite": _sqlite}

Run = Callable[[Callable[[Storage], Coroutine[Any, Any, T]]], T]


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Storage]:
    """A factory of storages on one database (call it again to reopen, as after a restart)."""
    make = BACKENDS[request.param]
    return lambda: make(tmp_path)


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
