#!/bin/sh
# cargo-fuzz, for the fuzz smoke tests (tests/fuzz/test_fuzz_smoke.py) and campaigns (rust/fuzz/README.md).
# The targets build on the stable toolchain with `--sanitizer none`: no nightly is needed.
# Idempotent: returns at once when the pinned version is installed.
set -eu
VERSION=0.13.2
if cargo fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $VERSION"; then
    exit 0
fi
echo "installing cargo-fuzz $VERSION (cargo install, about 2 minutes)" >&2
cargo install --locked --quiet cargo-fuzz --version "$VERSION"
cargo fuzz --version
