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
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-wrk: wrk is not installed and apt-get is not available;" \
        "install wrk with your package manager" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-wrk: wrk is not installed; run this script as root (or sudo) to install it" >&2
    exit 1
fi
echo "ensure-wrk: wrk not found, installing it with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk </dev/null; }; then
    echo "ensure-wrk: apt-get could not install wrk" >&2
    exit 1
fi
command -v wrk
