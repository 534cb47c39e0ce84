"""One exception root: every class the package raises is a ``StatusListError``; only errors
about the caller's input are ``ValueError``s."""

from __future__ import annotations

import inspect

import statuslist.exceptions as exc_module
from statuslist.exceptions import (
    ConfigError,
    FetchError,
    InputError,
    LoadtestError,
    ServiceError,
    StatusListError,
    StorageError,
    TokenError,
)
from statuslist.service import errors as service_errors


def _classes(module: object) -> list[type[BaseException]]:
    return [
        c
        for _, c in inspect.getmembers(module, inspect.isclass)
        if issubclass(c, BaseException) and c.__module__ == module.__name__  # type: ignore[attr-defined]
    ]


def test_every_class_is_under_the_root() -> None:
    found = _classes(exc_module) + _classes(service_errors)
    assert len(found) > 20
    for cls in found:
        assert issubclass(cls, StatusListError), cls


def test_value_error_only_where_the_input_is_at_fault() -> None:
    for cls in (InputError, TokenError, ConfigError, service_errors.ValidationError):
        assert issubclass(cls, ValueError), cls
    for cls in (FetchError, StorageError, LoadtestError, ServiceError, StatusListError):
        assert not issubclass(cls, ValueError), cls
        assert not issubclass(cls, RuntimeError), cls
