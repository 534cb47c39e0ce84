"""The shape of the command line: every verb dispatches to a handler, every ``--help`` works,
errors keep their one-line messages and exit codes, and the cheap verbs load nothing heavy."""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from statuslist.cli import build_parser, main
from statuslist.config import Settings
from statuslist.service.errors import ValidationError
from statuslist.storage import StorageError
from tests.support import free_port

#: Every verb that runs something, as typed after ``statuslist``.
LEAF_VERBS = {
    "encode",
    "decode",
    "keygen",
    "keys reload",
    "fetch",
    "inspect",
    "check",
    "serve",
    "apikey create",
    "db migrate",
    "backup",
    "lists create",
    "lists show",
    "lists list",
    "loadtest",
}


#: A P-256 public key (RFC 7517 appendix A.1).
JWK = {
    "kty": "EC",
    "crv": "P-256",
    "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
    "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM",
}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "statuslist", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """``parser`` and every parser below it, each with the verbs that lead to it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, (*path, name))


def has_verbs(parser: argparse.ArgumentParser) -> bool:
    return any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


PARSERS = dict(walk(build_parser()))


def test_every_leaf_verb_has_a_handler() -> None:
    leaves = {path: p for path, p in PARSERS.items() if not has_verbs(p)}
    assert {" ".join(path) for path in leaves} == LEAF_VERBS
    for path, parser in leaves.items():
        assert callable(parser.get_default("handler")), path
    for path, parser in PARSERS.items():
        if has_verbs(parser):  # a group needs its verb: usage error, never a dispatch
            assert parser.get_default("handler") is None, path


@pytest.mark.parametrize("path", sorted(PARSERS), ids=lambda p: " ".join(p) or "statuslist")
def test_help_exits_0(path: tuple[str, ...]) -> None:
    proc = cli(*path, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(" ".join(("usage: statuslist", *path))), proc.stdout
    assert proc.stderr == ""


@pytest.mark.parametrize(
    "path", [(), ("apikey",), ("lists",)], ids=["statuslist", "apikey", "lists"]
)
def test_a_group_without_its_verb_is_a_usage_error(path: tuple[str, ...]) -> None:
    proc = cli(*path)
    assert proc.returncode == 2
    assert "the following arguments are required" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_shows_the_settings_defaults() -> None:
    d = Settings()
    serve = cli("serve", "--help").stdout
    for text in (str(d.data_dir), d.host, str(d.port), str(d.publish_interval)):
        assert f"({text})" in serve
    assert f"({d.base_url})" in cli("lists", "create", "--help").stdout


def test_python_m_statuslist_cli_still_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "statuslist.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("statuslist "), proc.stderr


def _errors() -> list[object]:
    closed = f"http://127.0.0.1:{free_port()}"
    cases = [
        # a codec error names its class; exit 2 outside `check`
        (("decode", '{"bits":1,"lst":"!!"}'), 2, "statuslist: error: Base64Error: invalid base64"),
        (("encode", "--size", "8", "--bits", "3"), 2, "statuslist: error: InvalidBitsError: "),
        # OSError / ValueError: the message alone
        (
            ("decode", "/nonexistent/list.json"),
            2,
            "statuslist: error: cannot use /nonexistent/list.json: No such file",
        ),
        (
            ("inspect", "a0"),
            2,
            "statuslist: error: MalformedError: cannot inspect the token: not a JWT and not a "
            "tagged COSE_Sign1",
        ),
        (("check", "--uri", f"{closed}/x"), 2, "statuslist: error: --uri needs --idx"),
        # a ConfigError is a message alone, whatever root it has
        (("serve", "--port", "70000"), 2, "statuslist: error: port must be 0..65535"),
        (
            ("apikey", "create", "--config", "/nonexistent.toml"),
            2,
            "statuslist: error: cannot read",
        ),
        # a LoadtestError too
        (
            ("loadtest", "--url", closed, "--api-key", "k"),
            2,
            f"statuslist: error: cannot reach {closed}",
        ),
        # `check` cannot tell the entry's status: 1
        (
            ("check", "--uri", f"{closed}/x", "--idx", "1", "--jwk", "{jwk}"),
            1,
            f"statuslist: error: FetchError: GET {closed}/x failed",
        ),
    ]
    return [pytest.param(*case, id=" ".join(case[0])[:50]) for case in cases]


@pytest.mark.parametrize(("argv", "code", "message"), _errors())
def test_errors_are_one_line_and_an_exit_code(
    argv: tuple[str, ...], code: int, message: str, tmp_path: Path
) -> None:
    jwk = tmp_path / "jwk.json"
    jwk.write_text(json.dumps(JWK))
    proc = cli(*(str(jwk) if a == "{jwk}" else a for a in argv))
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.startswith(message), proc.stderr
    assert "Traceback" not in proc.stderr


class _FailingStorage:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def open(self) -> None:
        raise self.exc

    async def close(self) -> None:  # pragma: no cover - open failed
        pass


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (ValidationError("scope is odd", field="scope"), "statuslist: error: scope is odd\n"),
        (StorageError("disk full"), "statuslist: error: disk full\n"),
    ],
    ids=["ServiceError", "StorageError"],
)
def test_service_and_storage_errors(
    exc: Exception,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("statuslist.storage.open_storage", lambda _settings: _FailingStorage(exc))
    assert main(["apikey", "create", "--data", str(tmp_path)]) == 2
    assert capsys.readouterr().err == message


def test_cheap_verbs_load_nothing_heavy() -> None:
    heavy = (
        "aiohttp",
        "asyncio",
        "cryptography",
        "statuslist.client",
        "statuslist.loadtest",
        "statuslist.service",
        "statuslist.storage",
        "statuslist.tokens",
        "statuslist.web",
    )
    code = (
        "import sys\n"
        "from statuslist.cli import main\n"
        "main(['encode', '--size', '8', '--set', '1=1'])\n"
        'main([\'decode\', \'{"bits":1,"lst":"eNrbuRgAAhcBXQ"}\'])\n'
        f"print(sorted(m for m in sys.modules if m.startswith({heavy!r})))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"


def test_serve_caps_malloc_arenas_unless_the_operator_chose() -> None:
    """``serve`` caps glibc's malloc arenas (a process of its own here, as at start-up); an
    operator's ``MALLOC_ARENA_MAX`` is left to glibc."""
    code = "from statuslist.cli.serve import fewer_malloc_arenas as f; print(f())"
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    run = functools.partial(
        subprocess.run, [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert run(env=env).stdout.strip() == "True"
    assert run(env={**env, "MALLOC_ARENA_MAX": "4"}).stdout.strip() == "False"
