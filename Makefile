# One entry point for humans and CI. `make run` installs everything and runs statuslist;
# `make test` is what .ci/run executes.
PY ?= python3
PIP := $(PY) -m pip

.PHONY: install run test test-rust test-python lint bench fmt clean

install:  ## Python deps + the native extension (release build) into the current interpreter
	$(PIP) install --disable-pip-version-check -q -e '.[dev]'

run: install
	statuslist --help
	statuslist encode --size 16 --set 0=1 --set 3=1 --set 15=1

test: install test-rust lint test-python

test-rust:
	cargo test --locked -p statuslist-core

lint:
	cargo fmt --all --check
	cargo clippy --locked --workspace --all-targets -- -D warnings
	$(PY) -m ruff check python tests benchmarks
	$(PY) -m ruff format --check python tests benchmarks
	$(PY) -m mypy
	$(PY) -m mypy.stubtest statuslist._native

test-python:
	$(PY) -m pytest -q

bench: install
	$(PY) -m pytest benchmarks -q --benchmark-only --benchmark-columns=median,min,max,rounds

fmt:
	cargo fmt --all
	$(PY) -m ruff format python tests benchmarks
	$(PY) -m ruff check --fix python tests benchmarks

clean:
	cargo clean
	rm -f python/statuslist/_native*.so
