#!/bin/sh
# Make sure `wrk` (the native HTTP load generator) exists, installing Debian's `wrk` package when
# it does not. Idempotent: when it is already there this only prints its path. Used by
# `make bench` before benchmarks/put_wrk.py (single durable PUTs against a do-nothing aiohttp
# PUT, issue #13). Works without a terminal (CI=true, no stdin).
set -eu

if command -v wrk >/dev/null 2>&1; then
    command -v wrk
    exit 0
fi
. "$(dirname "$0")/apt.sh"
apt_install ensure-wrk wrk --no-install-recommends wrk
command -v wrk
