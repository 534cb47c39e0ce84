"""A short bounded run of every fuzz target, so CI notices a target that crashes or no longer
builds (the long campaigns are run by hand: rust/fuzz/README.md).

The cargo-fuzz targets (rust/fuzz) are built once, on the stable toolchain with
``--sanitizer none`` (cargo-fuzz comes from ``deploy/ensure-fuzz.sh``, which ``make test`` runs),
then each runs for a few seconds from its committed seeds. The atheris targets (tests/fuzz/
fuzz_*.py; atheris is in the ``[dev]`` extras) run a bounded number of inputs. A crash, a leak
report, a timeout or a missing tool fails the test loudly; nothing here is skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUZZ = ROOT / "rust" / "fuzz"
RUST_TARGETS = [
    "zlib_inflate",
    "list_encode",
    "object_json",
    "object_cbor",
    "token_jwt",
    "token_cwt",
]
PY_TARGETS = ["sdk", "commands"]
#: Seconds of fuzzing per target, and the libFuzzer options every run shares.
SECONDS = 10
COMMON = ["-seed=1", "-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1"]
BUILD_ARGS = ["build", "--fuzz-dir", str(FUZZ), "--release", "--sanitizer", "none", "-a"]


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="module")
def rust_bin() -> Path:
    cargo = shutil.which("cargo")
    if cargo is None:
        pytest.fail("cargo is not on PATH: the fuzz smoke tests need the Rust toolchain")
    version = subprocess.run(
        [cargo, "fuzz", "--version"], capture_output=True, text=True, check=False
    )
    if version.returncode != 0:
        pytest.fail(
            "cargo-fuzz is not installed; run `sh deploy/ensure-fuzz.sh` (make test does)\n"
            + version.stderr
        )
    build = subprocess.run(
        [cargo, "fuzz", *BUILD_ARGS], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert build.returncode == 0, f"cargo fuzz build failed:\n{_tail(build.stderr)}"
    rustc = subprocess.run(
        [str(Path(cargo).with_name("rustc")), "-vV"], capture_output=True, text=True, check=True
    )
    triple = rustc.stdout.split("host: ")[1].split()[0]
    out = FUZZ / "target" / triple / "release"
    missing = [t for t in RUST_TARGETS if not (out / t).is_file()]
    assert not missing, f"cargo fuzz build produced no {missing} in {out}"
    return out


def _run(cmd: list[str], tmp_path: Path, seeds: Path, **kw: object) -> str:
    assert seeds.is_dir() and any(seeds.iterdir()), f"no committed seeds in {seeds}"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    proc = subprocess.run(
        [*cmd, *COMMON, f"-artifact_prefix={tmp_path}/", str(corpus), str(seeds)],
        capture_output=True,
        text=True,
        check=False,
        timeout=SECONDS + 120,
        **kw,  # type: ignore[arg-type]
    )
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name != "corpus")
    assert proc.returncode == 0 and not crashes, (
        f"fuzz target failed (exit {proc.returncode}, artifacts {crashes}):\n{_tail(proc.stderr)}"
    )
    return proc.stderr


@pytest.mark.parametrize("target", RUST_TARGETS)
def test_cargo_fuzz_target(target: str, rust_bin: Path, tmp_path: Path) -> None:
    log = _run(
        [str(rust_bin / target), f"-max_total_time={SECONDS}"],
        tmp_path,
        FUZZ / "seeds" / target,
    )
    # The run really executed inputs from the seeds (not an empty or broken harness).
    assert "INITED" in log and "Done" in log, _tail(log)
    runs = int(log.split("stat::number_of_executed_units:")[1].split()[0])
    assert runs > 100, f"{target} ran only {runs} inputs in {SECONDS} s"


@pytest.mark.parametrize("target", PY_TARGETS)
def test_atheris_target(target: str, tmp_path: Path) -> None:
    try:
        import atheris  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"atheris is not installed (pip install -e '.[dev]'): {exc}")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "python"), str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    log = _run(
        [sys.executable, str(ROOT / "tests" / "fuzz" / f"fuzz_{target}.py"), "-runs=20000"],
        tmp_path,
        ROOT / "tests" / "fuzz" / "seeds" / target,
        env=env,
    )
    assert "Done 20000 runs" in log, _tail(log)
